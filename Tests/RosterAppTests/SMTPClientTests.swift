import Foundation
import Testing
import NIOCore
import NIOPosix
@testable import RosterApp

/// The SMTP client against scripted servers (no sink needed): what a hostile or broken server cannot make it do.
@Suite struct SMTPClientTests {
    /// Answers each command line from a script; `afterStartTLS` is sent right behind the 220 to STARTTLS.
    final class ScriptedServer: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let afterStartTLS: String
        let separateWrite: Bool

        init(afterStartTLS: String, separateWrite: Bool) {
            self.afterStartTLS = afterStartTLS
            self.separateWrite = separateWrite
        }

        func channelActive(context: ChannelHandlerContext) {
            send(context, "220 scripted ESMTP\r\n")
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let line = String(buffer: unwrapInboundIn(data)).uppercased()
            if line.hasPrefix("EHLO") {
                send(context, "250-scripted\r\n250 STARTTLS\r\n")
            } else if line.hasPrefix("STARTTLS") {
                if separateWrite {
                    send(context, "220 go ahead\r\n")
                    send(context, afterStartTLS)
                } else {
                    send(context, "220 go ahead\r\n" + afterStartTLS)
                }
            } else {
                send(context, "250 ok\r\n")
            }
        }

        private func send(_ context: ChannelHandlerContext, _ text: String) {
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: text)), promise: nil)
        }
    }

    @Test(arguments: [false, true])
    func plaintextInjectedAfterSTARTTLSIsRefused(separateWrite: Bool) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.pipeline.addHandler(ScriptedServer(afterStartTLS: "250-injected\r\n250 AUTH PLAIN\r\n", separateWrite: separateWrite))
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(server.localAddress?.port)
        let client = SMTPClient(configuration: SMTPConfiguration(host: "127.0.0.1", port: port, security: .startTLS, timeout: .seconds(5)),
                                eventLoopGroup: group)
        let failure = await #expect(throws: DeliveryFailure.self, "a message was sent over a connection with injected plaintext") {
            try await client.send(from: "roster@roster.test", to: "ada@example.com", data: "Subject: x\r\n\r\nhello\r\n")
        }
        #expect(failure?.kind == .senderSide, "refused as our side's problem, not the recipient's: \(failure?.message ?? "")")
        #expect(failure?.message.contains("data received after STARTTLS reply") == true, "refused before the handshake: \(failure?.message ?? "")")
        try await server.close()
        try await group.shutdownGracefully()
    }
}
