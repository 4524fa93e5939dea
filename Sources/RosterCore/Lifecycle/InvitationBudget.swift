import Foundation

/// An organization's hourly allowance of invitation emails (DESIGN §3): single invitations, resends and imports
/// alike take the next free slot. No row is refused for want of budget; an email over it waits in the outbox until
/// its slot comes, so that no hour (of any start) schedules more than `perHour` of the organization's invitations.
///
/// The slot of the next email is an hour after the slot `perHour` places back in the organization's sequence (or now,
/// while the last hour has room): a queue of those earlier slots, each new slot joining its end.
public struct InvitationBudget: Sendable, Equatable {
    /// Invitation emails allowed in any hour.
    public let perHour: Int
    /// For each next email, the slot it must be an hour after; nil while the last hour has room.
    private var references: [Date?]
    private var next = 0

    /// A budget of `perHour` (at least 1), good for `takes` emails: `counted` slots of the organization's lie in the
    /// last hour or later (only up to `perHour` of them matter), and `earliest` are the first `takes` (or fewer) of the
    /// latest `perHour`, ascending (`fetchWindow` says which to read).
    public init(perHour: Int, counted: Int = 0, earliest: [Date] = []) {
        self.perHour = max(1, perHour)
        references = Array(repeating: nil, count: self.perHour - min(counted, self.perHour)) + earliest.sorted().map { $0 }
    }

    /// A budget of `perHour` good for `takes` emails, from the organization's slots after `window(now:)` that
    /// `fetchWindow` names (`earliest`: those of them that exist). Fewer than asked means the last hour has room for
    /// the difference; no count is needed.
    public init(perHour: Int, takes: Int, earliest: [Date]) {
        let perHour = max(1, perHour)
        self.init(perHour: perHour, counted: perHour - Self.fetchWindow(perHour: perHour, takes: takes).limit + earliest.count, earliest: earliest)
    }

    /// Which of the organization's slots after `window(now:)` to read, newest first (`LIMIT`, `OFFSET`), for `takes`
    /// emails: the oldest `takes` (at most `perHour`) of the latest `perHour`, which those emails must be an hour after.
    public static func fetchWindow(perHour: Int, takes: Int) -> (limit: Int, offset: Int) {
        let perHour = max(1, perHour)
        let limit = min(max(1, takes), perHour)
        return (limit, perHour - limit)
    }

    /// Slots after this time (an hour before `now`) count.
    public static func window(now: Date) -> Date { now.addingTimeInterval(-3600) }

    /// This budget once `plan`, decided on it at `now`, took its slots (one per invitation email, as
    /// `Lifecycle.invitationSlot` takes them from a copy); nil when the plan took none, and so may not have read it.
    public func after(_ plan: MembershipPlan, now: Date) -> InvitationBudget? {
        let takes = plan.emails.count { $0.sendAt != nil }
        guard takes > 0 else { return nil }
        var budget = self
        for _ in 0..<takes { _ = budget.take(now: now) }
        return budget
    }

    /// Takes the next slot at or after `now`.
    public mutating func take(now: Date) -> Date {
        let reference = next < references.count ? references[next] : nil
        next += 1
        let slot = reference.map { max(now, $0.addingTimeInterval(3600)) } ?? now
        references.append(slot)
        return slot
    }
}
