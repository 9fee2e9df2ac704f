// Push notifications (XEP-0357) against Prosody's cloud_notify and the test
// app server at push.DOMAIN, which writes down every notification it gets
// (`TestServer.pushNotifications()`).
import JabberKit
import XCTest

final class PushTests: LiveServerTestCase, @unchecked Sendable {
    func testADisconnectedAccountIsPushedTheMessageWithTheNodeAndTheSecret() async throws {
        let alice = try JabberKitSession(config: server.config(try server.newAccount("alice"), store: try newStore()))
        let bob = try JabberKitSession(config: server.config(try server.newAccount("bob"), store: try newStore()))
        let pushEvents = record(alice.pushEvents)
        try await online(alice)
        try await online(bob)

        try alice.enablePush(service: server.pushService, node: "n1", secret: Password(value: "s3cret"))
        let enabled = try await pushEvents.awaitValue("the server's answer") { $0.node == "n1" }
        XCTAssertEqual(enabled.service, server.pushService)
        XCTAssertTrue(enabled.enabled, "\(enabled)")
        XCTAssertNil(enabled.refused)

        await alice.disconnect()
        _ = try bob.send(to: alice.jid, body: "ping")

        // Prosody pushes at once for a message to an account with no session.
        let pushed = try await poll("a notification of \"ping\"", within: .seconds(20), { try self.server.pushNotifications() }) {
            $0.contains { $0.body == "ping" }
        }.first { $0.body == "ping" }!
        XCTAssertEqual(pushed.node, "n1")
        XCTAssertEqual(pushed.secret, "s3cret")
        XCTAssertEqual(pushed.from, server.domain, "our server publishes, not the account")
        XCTAssertTrue(pushed.sender?.hasPrefix(bob.jid) ?? false, "the sender: \(pushed)")
        XCTAssertFalse(pushed.error, "\(pushed)")
    }

    func testAPushServiceThatIsNotAJidIsInvalidInput() throws {
        let session = try JabberKitSession(config: server.config(try server.newAccount("alice"), store: try newStore()))
        assertThrowsJabberKitError(
            "a service that is not a JID", try session.enablePush(service: "not a jid@@", node: "n1"), isInvalidInput)
        assertThrowsJabberKitError(
            "an empty node", try session.enablePush(service: server.pushService, node: " "), isInvalidInput)
    }
}
