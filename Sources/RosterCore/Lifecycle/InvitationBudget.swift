import Foundation

/// An organization's hourly allowance of invitation emails (DESIGN §3): single invitations, resends and imports
/// alike take the next free slot. No row is refused for want of budget; an email over it waits in the outbox until
/// its slot comes, so that no hour (of any start) sends more than `perHour` of the organization's invitations.
public struct InvitationBudget: Sendable, Equatable {
    /// Invitation emails allowed in any hour.
    public var perHour: Int
    /// The latest slots taken, ascending (only the last `perHour` of them matter).
    public private(set) var recent: [Date]

    /// A budget of `perHour` (at least 1) with the slots the organization's earlier emails took (any order, any age).
    public init(perHour: Int, recent: [Date] = []) {
        self.perHour = max(1, perHour)
        self.recent = Array(recent.sorted().suffix(self.perHour))
    }

    /// The slots `recent` must hold to decide: emails scheduled after this time (an hour before `now`).
    public static func window(now: Date) -> Date { now.addingTimeInterval(-3600) }

    /// Takes the next slot at or after `now`: `now` while the last hour holds fewer than `perHour` slots, otherwise
    /// an hour after the slot `perHour` places back (slots are taken in time order, so `recent` stays sorted).
    public mutating func take(now: Date) -> Date {
        let slot = recent.count < perHour ? now : max(now, recent[recent.count - perHour].addingTimeInterval(3600))
        recent.append(slot)
        if recent.count >= 2 * perHour { recent.removeFirst(recent.count - perHour) }
        return slot
    }
}
