import JabberKit
import XCTest

final class ContactsTests: LiveServerTestCase, @unchecked Sendable {
    /// Waits until `session`'s roster lists `peer` with `subscription`, re-reading it on every contact event.
    private func awaitSubscription(
        _ session: JabberKitSession, _ events: Recording<ContactEvent>, _ peer: String, _ subscription: Subscription
    ) async throws {
        try await events.awaitRead("\(peer) with \(subscription) in \(session.jid)'s roster", { try session.roster() }) {
            $0.first { $0.jid == peer }?.subscription == subscription
        }
    }

    func testTwoSessionsSubscribeToEachOtherAndSeeEachOthersPresence() async throws {
        let alice = try JabberKitSession(config: server.config(try server.newAccount("alice"), store: try newStore()))
        let bob = try JabberKitSession(config: server.config(try server.newAccount("bob"), store: try newStore()))
        let aliceContacts = record(alice.contactEvents)
        let bobContacts = record(bob.contactEvents)
        let aliceMessages = record(alice.messages)
        let bobMessages = record(bob.messages)
        try await online(alice)
        try await online(bob)

        // Catch-up: one per fresh session, ending complete.
        try await aliceMessages.awaitValue("Alice's catch-up") { $0.isCatchUpComplete }
        try await bobMessages.awaitValue("Bob's catch-up") { $0.isCatchUpComplete }

        // Both sessions are available: a message gets through.
        _ = try alice.send(to: bob.jid, body: "hello")
        try await bobMessages.awaitValue("Alice's message") { $0.newMessage.map { !$0.outgoing } ?? false }

        try alice.addContact(bob.jid, name: "Bob")
        try await bobContacts.awaitValue("Alice's request at Bob") { $0 == .subscriptionRequest(from: alice.jid) }
        try bob.approve(alice.jid)
        try await aliceContacts.awaitValue("Bob's request at Alice") { $0 == .subscriptionRequest(from: bob.jid) }
        try alice.approve(bob.jid)

        try await awaitSubscription(alice, aliceContacts, bob.jid, .both)
        try await awaitSubscription(bob, bobContacts, alice.jid, .both)
        let bobAtAlice = try XCTUnwrap(try alice.roster().first { $0.jid == bob.jid })
        XCTAssertEqual(bobAtAlice.name, "Bob")
        XCTAssertFalse(bobAtAlice.pendingIn)

        try bob.setPresence(.away, status: "lunch")
        try await aliceContacts.awaitValue("Bob away at Alice") { $0 == .presence(from: bob.jid, show: .away, status: "lunch") }
        let presence = try XCTUnwrap(try alice.presences().first { $0.jid == bob.jid })
        XCTAssertEqual(presence.show, .away)
        XCTAssertEqual(presence.status, "lunch")

        // Rename and regroup: no new permission needed.
        try alice.updateContact(bob.jid, name: "Bob B.", groups: ["Work"])
        let roster = try await aliceContacts.awaitRead("the rename", { try alice.roster() }) {
            $0.first { $0.jid == bob.jid }?.name == "Bob B."
        }
        let renamed = try XCTUnwrap(roster.first { $0.jid == bob.jid })
        XCTAssertEqual(renamed.groups, ["Work"])
        XCTAssertEqual(renamed.subscription, .both)
    }
}
