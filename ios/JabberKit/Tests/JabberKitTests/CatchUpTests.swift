import JabberKit
import XCTest

/// Catching up from the server's archive through the Swift layer: Alice's
/// phone was offline while Bob wrote; Alice's laptop was online and got the
/// messages live, so the server kept none for offline delivery and only the
/// archive can give them to the phone.
///
/// Unlike the Kotlin test, which waits 2 s for a late duplicate, this one
/// uses a barrier: after the catch-up, Bob sends one more message and the
/// test waits for it on the same stream; anything the server sent before it
/// has then been announced.
final class CatchUpTests: LiveServerTestCase, @unchecked Sendable {
    private let count = 30

    /// Bodies of the incoming messages announced, in order.
    private func incoming(_ events: [MessageEvent]) -> [String] {
        events.compactMap { $0.newMessage }.filter { !$0.outgoing }.map(\.body)
    }

    private func catchUps(_ events: [MessageEvent]) -> [(fetched: UInt32, complete: Bool)] {
        events.compactMap { if case .catchUp(let fetched, let complete) = $0 { return (fetched, complete) } else { return nil } }
    }

    /// Bob sends `body` to Alice's bare JID; returns once `events` (the one
    /// online device's) announced it, with everything announced up to it.
    private func barrier(_ body: String, from bob: JabberKitSession, to alice: String, at events: Recording<MessageEvent>) async throws -> [MessageEvent] {
        _ = try bob.send(to: alice, body: body)
        return try await events.waitFor("the barrier \"\(body)\"") { $0.contains { $0.newMessage?.body == body } }
    }

    func testAPhoneThatWasOfflineCatchesUpEveryMessageOnceInOrder() async throws {
        let aliceJid = try server.newAccount("alice")
        let bobJid = try server.newAccount("bob")
        let phoneConfig = server.config("\(aliceJid)/phone", store: try newStore())

        // The phone logs in once (the archive is empty: its store remembers "from the start")…
        do {
            let first = try JabberKitSession(config: phoneConfig)
            let firstEvents = record(first.messages)
            try await online(first)
            try await firstEvents.awaitValue("the first catch-up") { $0.isCatchUpComplete }
            XCTAssertEqual(firstEvents.values.filter { if case .catchUp = $0 { true } else { false } }, [.catchUp(fetched: 0, complete: true)])
            await first.disconnect()
        }

        // …then Bob writes while only the laptop is online.
        let bob = try JabberKitSession(config: server.config(bobJid, store: try newStore()))
        let bobEvents = record(bob.messages)
        try await online(bob)
        let bodies = (1...count).map { "while the phone was away \($0)" }
        do {
            let laptop = try JabberKitSession(config: server.config("\(aliceJid)/laptop", store: try newStore()))
            let laptopEvents = record(laptop.messages)
            try await online(laptop)
            // A barrier: the laptop's presence is processed before Bob writes.
            _ = try laptop.send(to: bobJid, body: "laptop here")
            try await bobEvents.awaitValue("the laptop's message at Bob") { $0.newMessage?.body == "laptop here" }

            let ids = try bodies.map { try bob.send(to: aliceJid, body: $0) }
            let live = try await laptopEvents.waitFor("\(count) messages live at the laptop") { self.incoming($0).count >= self.count }
            XCTAssertEqual(incoming(live), bodies, "the laptop got them live, once, in order")
            try await bobEvents.waitFor("\(count) messages acked") { events in
                let acked = Set(events.compactMap { event -> String? in
                    if case .stateChanged(let id, let conversation, let state) = event, conversation == aliceJid,
                       state == .acked || state == .delivered { return id }
                    return nil
                })
                return acked.isSuperset(of: ids)
            }
            await laptop.disconnect()
        }

        // The phone, re-created on its store, catches up from the archive.
        var history: [Message] = []
        do {
            let phone = try JabberKitSession(config: phoneConfig)
            let events = record(phone.messages)
            try await online(phone)
            try await events.awaitValue("the catch-up to complete") { $0.isCatchUpComplete }
            let seen = try await barrier("barrier 1", from: bob, to: aliceJid, at: events)

            let progress = catchUps(seen)
            XCTAssertEqual(progress.filter(\.complete).count, 1, "one complete catch-up: \(progress)")
            XCTAssertEqual(progress.last?.complete, true, "\(progress)")
            XCTAssertEqual(progress.map(\.fetched), progress.map(\.fetched).sorted(), "\(progress)")
            // Bob's messages, the laptop's message and its receipts (Prosody archives those too).
            XCTAssertGreaterThanOrEqual(progress.last?.fetched ?? 0, UInt32(count + 1), "\(progress)")

            // Each message announced once, before the catch-up ended: they came from the archive.
            XCTAssertEqual(incoming(seen), bodies + ["barrier 1"], "each incoming message announced once, in order")
            let complete = seen.firstIndex { $0.isCatchUpComplete }!
            let archived = seen.indices.filter { seen[$0].newMessage != nil && seen[$0].newMessage?.body != "barrier 1" }
            XCTAssertLessThan(archived.last ?? -1, complete, "a message announced after the catch-up: \(seen)")
            let fromLaptop = seen.compactMap(\.newMessage).filter(\.outgoing)
            XCTAssertEqual(fromLaptop.map(\.body), ["laptop here"])
            XCTAssertEqual(fromLaptop.first?.state, .acked)
            XCTAssertTrue(fromLaptop.allSatisfy { $0.sender == aliceJid && $0.conversation == bobJid })

            // The store holds each once, in order.
            history = try phone.history(with: bobJid, limit: 1000)
            XCTAssertEqual(history.map(\.body), ["laptop here"] + bodies + ["barrier 1"])
            XCTAssertEqual(history.map(\.outgoing), [true] + Array(repeating: false, count: count + 1))
            XCTAssertTrue(history.dropFirst().allSatisfy { $0.sender == bobJid && $0.state == .received }, "\(history)")
            XCTAssertEqual(try phone.conversations().first { $0.peer == bobJid }?.unread, UInt32(count + 1))
            await phone.disconnect()
        }

        // A fresh session later stores nothing twice: the only new message is the next barrier.
        let again = try JabberKitSession(config: phoneConfig)
        let againEvents = record(again.messages)
        try await online(again)
        try await againEvents.awaitValue("the next catch-up") { $0.isCatchUpComplete }
        let seen = try await barrier("barrier 2", from: bob, to: aliceJid, at: againEvents)
        XCTAssertEqual(catchUps(seen).filter(\.complete).count, 1, "\(catchUps(seen))")
        XCTAssertEqual(seen.compactMap(\.newMessage).map(\.body), ["barrier 2"])
        XCTAssertEqual(Array(try again.history(with: bobJid, limit: 1000).dropLast()), history)
    }
}
