import JabberKit
import XCTest

final class ConnectionTests: LiveServerTestCase, @unchecked Sendable {
    func testSignsInOverStartTLSAndOverDirectTLS() async throws {
        let jid = try server.newAccount("alice")
        for tls in [TlsMode.startTls, .directTls] {
            let session = try JabberKitSession(config: server.config(jid, store: try newStore(), tls: tls))
            XCTAssertEqual(session.jid, jid)
            XCTAssertEqual(session.state, .disconnected, "before connect()")
            try session.connect()
            let online = try await awaitState(session, "online over \(tls)") { $0.isOnline }
            XCTAssertEqual(online, .online(resumed: false))
            await session.disconnect()
            try await awaitState(session, "disconnected after disconnect()") { $0 == .disconnected }
        }
    }

    func testSignsUpANewAccountThatThenSignsInAndATakenNameIsRefused() async throws {
        let jid = "swiftcarol@\(server.domain)"
        try await JabberKitSession.signUp(server.config(jid, store: try newStore()))
        let session = try JabberKitSession(config: server.config(jid, store: try newStore()))
        try session.connect()
        try await awaitState(session, "online with the new account") { $0.isOnline }
        await session.disconnect()
        do {
            try await JabberKitSession.signUp(server.config(jid, store: try newStore(), password: "another"))
            XCTFail("the same name twice")
        } catch SignUpError.UsernameTaken {
        }
    }

    func testAWrongPasswordEndsInFailedAuthenticationAndIsNotRetried() async throws {
        let jid = try server.newAccount("mallory")
        let session = try JabberKitSession(config: server.config(jid, store: try newStore(), password: "not-the-password"))
        let states = record(session.states)
        try session.connect()
        let end = try await states.awaitValue("failed") { $0.isFailed || $0.isOnline }
        guard case .failed(let reason) = end else { return XCTFail("expected failed, got \(end)") }
        guard case .authentication = reason else { return XCTFail("expected an authentication failure, got \(reason)") }
        XCTAssertEqual(states.values.first, .disconnected, "the current state comes first")
        XCTAssertFalse(states.values.contains { $0.isReconnecting }, "a wrong password must not be retried: \(states.values)")
    }

    func testAfterAResetLinkTheStateGoesOnlineSuspendedThenOnlineResumed() async throws {
        let proxy = try faultProxy()
        let jid = try server.newAccount("carol")
        let session = try JabberKitSession(config: server.config(jid, store: try newStore(), server: proxy.addr))
        let states = record(session.states)
        try session.connect()
        try await states.awaitValue("online") { $0.isOnline }
        let before = states.values.count

        try proxy.command("reset")

        let after = Array(try await states.waitFor("online(resumed: true) after the reset") { values in
            values.dropFirst(before).contains(.online(resumed: true))
        }.dropFirst(before))
        let path = Array(after.prefix { !$0.isOnline })
        XCTAssertEqual(path.first, .suspended, "first state after the reset: \(after)")
        XCTAssertTrue(
            path.allSatisfy { $0 == .suspended || $0.isReconnecting },
            "only suspended/reconnecting on the way back: \(after)")
        XCTAssertEqual(after[path.count], .online(resumed: true))
        XCTAssertEqual(session.state, .online(resumed: true))

        // The resumed stream carries messages.
        let events = record(session.messages)
        let dave = try server.newAccount("dave")
        let id = try session.send(to: dave, body: "after the reset")
        try await events.awaitValue("\(id) acked") { $0 == .stateChanged(id: id, conversation: dave, state: .acked) }
    }
}
