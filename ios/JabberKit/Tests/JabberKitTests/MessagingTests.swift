import JabberKit
import XCTest

final class MessagingTests: LiveServerTestCase, @unchecked Sendable {
    func testTwoSessionsExchangeMessagesWithDeliveryReceipts() async throws {
        let alice = try JabberKitSession(config: server.config(try server.newAccount("alice"), store: try newStore()))
        let bob = try JabberKitSession(config: server.config(try server.newAccount("bob"), store: try newStore()))
        let aliceEvents = record(alice.messages)
        let bobEvents = record(bob.messages)
        try await online(alice)
        try await online(bob)

        let id = try alice.send(to: bob.jid, body: "hello Bob ✓")

        let outgoing = try await aliceEvents.awaitValue("the queued message") { $0.newMessage != nil }.newMessage!
        XCTAssertEqual(outgoing.id, id)
        XCTAssertTrue(outgoing.outgoing)
        XCTAssertEqual(outgoing.conversation, bob.jid)
        XCTAssertEqual(outgoing.state, .queued)

        let incoming = try await bobEvents.awaitValue("Alice's message at Bob") { $0.newMessage != nil }.newMessage!
        XCTAssertEqual(incoming.body, "hello Bob ✓")
        XCTAssertEqual(incoming.sender, alice.jid)
        XCTAssertEqual(incoming.conversation, alice.jid)
        XCTAssertFalse(incoming.outgoing)
        XCTAssertEqual(incoming.state, .received)

        try await aliceEvents.awaitValue("the receipt") { $0 == .stateChanged(id: id, conversation: bob.jid, state: .delivered) }
        let changes = aliceEvents.values.compactMap { event -> (conversation: String, state: DeliveryState)? in
            if case .stateChanged(id, let conversation, let state) = event { return (conversation, state) } else { return nil }
        }
        XCTAssertEqual(changes.map(\.conversation), Array(repeating: bob.jid, count: changes.count))
        let progress = changes.map(\.state)
        let order: [DeliveryState] = [.queued, .sent, .acked, .delivered, .read]
        let ranks = progress.map { order.firstIndex(of: $0) ?? -1 }
        XCTAssertEqual(ranks, ranks.sorted(), "states in order: \(progress)")
        XCTAssertEqual(try alice.history(with: bob.jid).map(\.state), [.delivered])

        // And back.
        let reply = try bob.send(to: alice.jid, body: "hi Alice")
        let back = try await aliceEvents.awaitValue("Bob's reply") { $0.newMessage.map { !$0.outgoing } ?? false }
        XCTAssertEqual(back.newMessage?.body, "hi Alice")
        try await bobEvents.awaitValue("the reply's receipt") {
            $0 == .stateChanged(id: reply, conversation: alice.jid, state: .delivered)
        }

        let conversations = try alice.conversations()
        XCTAssertEqual(conversations.map(\.peer), [bob.jid])
        XCTAssertEqual(conversations.first?.lastMessage.body, "hi Alice")
        XCTAssertEqual(conversations.first?.unread, 1)
        XCTAssertEqual(try alice.markRead(bob.jid), 1)
        XCTAssertEqual(try alice.conversations().first?.unread, 0)
        try await aliceEvents.awaitValue("the conversation read") { $0 == .conversationRead(with: bob.jid) }
        XCTAssertEqual(try alice.markRead(bob.jid), 0)
        let hits = try alice.search("ALI")
        XCTAssertEqual(hits.map(\.message.body), ["hi Alice"])
        XCTAssertTrue(hits.first?.snippet.contains("[Alice]") ?? false, "\(hits)")

        // Alice read it: Bob sees his reply read (chat marker).
        try await bobEvents.awaitValue("the reply read") { $0 == .stateChanged(id: reply, conversation: alice.jid, state: .read) }
        XCTAssertEqual(try bob.history(with: alice.jid).last?.state, .read)
    }

    func testTheLastMessageIsCorrectedAtThePeerAndOlderOnesCannotBe() async throws {
        let alice = try JabberKitSession(config: server.config(try server.newAccount("alice"), store: try newStore()))
        let bob = try JabberKitSession(config: server.config(try server.newAccount("bob"), store: try newStore()))
        let aliceEvents = record(alice.messages)
        let bobEvents = record(bob.messages)
        try await online(alice)
        try await online(bob)
        alice.setForeground(false) // returns at once; the server holds presence, not messages

        let first = try alice.send(to: bob.jid, body: "lunch at noon")
        let last = try alice.send(to: bob.jid, body: "see you tere")
        let arrived = try await bobEvents.awaitValue("the typo at Bob") { $0.newMessage?.body == "see you tere" }.newMessage!

        assertThrowsJabberKitError("correcting an older message", try alice.correct(first, body: "lunch at one"), isInvalidInput)
        let fixed = try alice.correct(last, body: "see you there")
        XCTAssertEqual(fixed.body, "see you there")
        XCTAssertTrue(fixed.corrected)
        // Our own correction is reported too.
        let ours = try await aliceEvents.awaitValue("the correction at Alice") {
            if case .corrected = $0 { return true } else { return false }
        }
        guard case .corrected(let own) = ours else { return XCTFail("\(ours)") }
        XCTAssertEqual([own.id, own.body], [last, "see you there"])
        XCTAssertTrue(own.corrected)

        let event = try await bobEvents.awaitValue("the correction at Bob") {
            if case .corrected = $0 { return true } else { return false }
        }
        guard case .corrected(let corrected) = event else { return XCTFail("\(event)") }
        XCTAssertEqual(corrected.id, arrived.id)
        XCTAssertEqual(corrected.body, "see you there")
        XCTAssertTrue(corrected.corrected)
        XCTAssertEqual(try bob.history(with: alice.jid).map(\.body), ["lunch at noon", "see you there"])
        alice.setForeground(true)
    }

    func testHistorySurvivesRecreatingTheSessionOnTheSameStore() async throws {
        let aliceJid = try server.newAccount("alice")
        let bob = try JabberKitSession(config: server.config(try server.newAccount("bob"), store: try newStore()))
        let bobEvents = record(bob.messages)
        try await online(bob)
        let store = try newStore()

        var ids: [String] = []
        do {
            let first = try JabberKitSession(config: server.config(aliceJid, store: store))
            let firstEvents = record(first.messages)
            try await online(first)
            ids = try ["one", "two", "three"].map { try first.send(to: bob.jid, body: $0) }
            for id in ids {
                try await firstEvents.awaitValue("\(id) delivered") {
                    $0 == .stateChanged(id: id, conversation: bob.jid, state: .delivered)
                }
            }
            _ = try bob.send(to: aliceJid, body: "four")
            try await firstEvents.awaitValue("Bob's message") { $0.newMessage?.body == "four" }
            await first.disconnect()
            firstEvents.cancel()
        } // `first` is released here: its store is closed.

        let again = try JabberKitSession(config: server.config(aliceJid, store: store))
        let history = try again.history(with: bob.jid)
        XCTAssertEqual(history.map(\.body), ["one", "two", "three", "four"])
        XCTAssertEqual(Array(history.prefix(3).map(\.id)), ids)
        XCTAssertEqual(history.map(\.state), [.delivered, .delivered, .delivered, .received])
        // Paging: older than "three", at most two.
        XCTAssertEqual(try again.history(with: bob.jid, before: ids[2], limit: 2).map(\.body), ["one", "two"])
        XCTAssertEqual(try again.conversations().map(\.peer), [bob.jid])
        // Bob's store holds the same conversation, each message once.
        try await bobEvents.waitFor("three messages at Bob") { events in
            events.filter { $0.newMessage.map { !$0.outgoing } ?? false }.count >= 3
        }
        XCTAssertEqual(try bob.history(with: aliceJid).map(\.body), ["one", "two", "three", "four"])
    }

    func testBadInputIsAJabberKitErrorInvalidInput() throws {
        let session = try JabberKitSession(config: server.config(try server.newAccount("alice"), store: try newStore()))
        assertThrowsJabberKitError("a malformed JID", try session.send(to: "not a jid@@", body: "hi"), isInvalidInput)
        assertThrowsJabberKitError("an empty body", try session.send(to: "bob@example.test", body: ""), isInvalidInput)
        assertThrowsJabberKitError(
            "a JID without a user part",
            try JabberKitSession(config: server.config("no-user-part", store: try newStore())), isInvalidInput)
        let error = assertThrowsJabberKitError(
            "an empty password",
            try JabberKitSession(config: server.config("a@example.test", store: try newStore(), password: "")),
            isInvalidInput)
        XCTAssertTrue(error?.reason.contains("password") ?? false, "\(String(describing: error))")
        // The CA (like the server address) is checked by connect(), not by init.
        let badCa = try JabberKitSession(config: ClientConfig(
            jid: "a@example.test", password: Password(value: "x"), tls: .startTls, extraCaPem: "not a certificate",
            storeDir: try newStore().path))
        assertThrowsJabberKitError("an unusable CA", try badCa.connect(), isInvalidInput)
        // Offline sends are stored and queued.
        let id = try session.send(to: "bob@example.test", body: "later")
        let history = try session.history(with: "bob@example.test")
        XCTAssertEqual(history.map(\.id), [id])
        XCTAssertEqual(history.map(\.state), [.queued])
        assertThrowsJabberKitError("a retry of a message that did not fail", try session.retry(id), isInvalidInput)
        // A network's DNS servers are addresses; the servers in use stay otherwise.
        assertThrowsJabberKitError(
            "a DNS server by name", try session.setDnsServers(["192.0.2.53", "dns.example"]), isInvalidInput)
        try session.setDnsServers(["192.0.2.53", "[2001:db8::53]:5353"])
    }
}
