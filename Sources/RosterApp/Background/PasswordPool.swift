import NIOPosix
import Vapor

/// The threads bcrypt runs on, apart from the pool that database and file work use: a flood of sign-ins queues
/// here (half the cores, at least one thread), and `/readyz`, SQLite queries and everything else keep their threads.
final class PasswordPool: LifecycleHandler, Sendable {
    let threads: NIOThreadPool
    let numberOfThreads: Int

    init(numberOfThreads: Int = max(1, System.coreCount / 2)) {
        self.numberOfThreads = numberOfThreads
        threads = NIOThreadPool(numberOfThreads: numberOfThreads)
        threads.start()
    }

    func shutdownAsync(_ application: Application) async {
        try? await threads.shutdownGracefully()
    }
}

extension Request {
    /// bcrypt hashing and verification on the `PasswordPool`, answered on this request's event loop.
    var passwordHashing: AsyncPasswordHasher {
        application.password.sync.async(on: application.roster.passwordPool.threads, hopTo: eventLoop)
    }
}

extension Application {
    /// bcrypt hashing and verification on the `PasswordPool` (commands).
    var passwordHashing: AsyncPasswordHasher {
        password.sync.async(on: roster.passwordPool.threads, hopTo: eventLoopGroup.any())
    }
}
