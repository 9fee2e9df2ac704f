import JabberKit
import XCTest

/// The conversation list and a timeline, kept by the core: a UI that only
/// applies their diffs must show exactly what the store holds, after a burst,
/// a correction, paging, time offline and a restart. The Swift counterpart
/// of ListsTest.kt.
final class ListsTests: LiveServerTestCase, @unchecked Sendable {
    /// What a UI following a list stream shows: the latest list.
    private func shown<T>(_ lists: Recording<[T]>) -> [T] {
        lists.values.last ?? []
    }

    /// What a UI applying every batch of a diff stream shows.
    private func shown<D: ListDiff>(diffs: Recording<[D]>) -> [D.Item] {
        diffs.values.joined().applied(to: [])
    }

    /// Waits until the store holds `size` items and every view shows exactly
    /// them, reading the store again every 50 ms.
    private func awaitStore<T: Equatable>(
        _ what: String, size: Int, _ views: [(name: String, shown: () -> [T])], store: () throws -> [T]
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            let expected = try store()
            let wrong = views.map { ($0.name, $0.shown()) }.filter { $0.1 != expected }
            if expected.count == size && wrong.isEmpty { return }
            if ContinuousClock.now >= deadline {
                let views = wrong.map { "\($0.0) shows \($0.1.count): \($0.1)" }.joined(separator: "\n")
                throw TestFailure("""
                    \(what): the UI never matched the store within \(timeout)
                    store \(expected.count) (expected \(size)): \(expected)
                    \(views)
                    """)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    func testAUIApplyingDiffsShowsTheStoreAfterABurstACorrectionPagingTimeOfflineAndARestart() async throws {
        let aliceJid = try server.newAccount("alice")
        let bobJid = try server.newAccount("bob")
        let aliceConfig = server.config(aliceJid, store: try newStore())
        let bob = try JabberKitSession(config: server.config(bobJid, store: try newStore()))

        let timeline: Timeline
        let list: Recording<[Conversation]>
        let messages: Recording<[Message]>
        do {
            let alice = try JabberKitSession(config: aliceConfig)
            try await online(alice)
            try await online(bob)
            for i in 1...3 { _ = try bob.send(to: aliceJid, body: "before \(i)") }
            try await poll("Bob's first three messages at alice", { try alice.history(with: bobJid).count }) { $0 == 3 }

            list = record(alice.conversationList())
            let listDiffs = record(alice.conversationListDiffs())
            timeline = try alice.timeline(with: bobJid, page: 2)
            messages = record(timeline.messages)
            let timelineDiffs = record(timeline.diffs)
            let lists: [(name: String, shown: () -> [Conversation])] = [
                ("conversationList()", { self.shown(list) }),
                ("conversationListDiffs()", { self.shown(diffs: listDiffs) }),
            ]
            var timelines: [(name: String, shown: () -> [Message])] = [
                ("messages", { self.shown(messages) }),
                ("diffs", { self.shown(diffs: timelineDiffs) }),
            ]
            try await awaitStore("the list at first", size: 1, lists) { try alice.conversations() }
            try await awaitStore("the first page", size: 2, timelines) { try alice.history(with: bobJid, limit: 2) }
            XCTAssertTrue(isReset(listDiffs.values.first), "the first batch is one reset: \(listDiffs.values)")
            XCTAssertTrue(isReset(timelineDiffs.values.first), "the first batch is one reset: \(timelineDiffs.values)")

            // A burst from Bob, and a message of ours, corrected.
            for i in 1...30 { _ = try bob.send(to: aliceJid, body: "burst \(i)") }
            let ours = try alice.send(to: bobJid, body: "see you at 9")
            _ = try alice.correct(ours, body: "see you at 10")
            try await awaitStore("after the burst", size: 2 + 31, timelines) {
                try alice.history(with: bobJid, limit: 2 + 31)
            }
            try await awaitStore("the list after the burst", size: 1, lists) { try alice.conversations() }
            XCTAssertTrue(
                shown(messages).contains { $0.id == ours && $0.body == "see you at 10" && $0.corrected },
                "the correction is not shown: \(shown(messages))")

            // An observer that comes late starts from the timeline as it is now
            // (our message may still progress: the checks below compare it).
            let late = record(timeline.diffs)
            let first = try await late.waitFor("the late observer's first batch") { !$0.isEmpty }[0]
            XCTAssertTrue(isReset(first, count: 2 + 31), "\(first)")
            timelines.append(("a late diffs", { self.shown(diffs: late) }))

            // The one older message, then nothing more.
            let more = try await timeline.paginateBack(5)
            XCTAssertFalse(more, "only one older message")
            try await awaitStore("after paging", size: 3 + 31, timelines) {
                try alice.history(with: bobJid, limit: 3 + 31)
            }

            // Time offline: what Bob wrote meanwhile arrives when alice is back.
            await alice.disconnect()
            for i in 1...10 { _ = try bob.send(to: aliceJid, body: "while away \(i)") }
            try await online(alice)
            try await awaitStore("after coming back", size: 3 + 31 + 10, timelines) {
                try alice.history(with: bobJid, limit: 3 + 31 + 10)
            }
            XCTAssertGreaterThan(try alice.markRead(bobJid), 0)
            try await awaitStore("the list after reading", size: 1, lists) { try alice.conversations() }
            XCTAssertEqual(shown(list).map(\.unread), [0])
            await alice.disconnect()
        } // `alice` is released here: its store is closed, its lists stop.

        // Its streams finished; the timeline (still held) has stopped.
        try await list.waitUntilFinished("the conversation list to finish with the session")
        try await messages.waitUntilFinished("the timeline's messages to finish with the session")
        do {
            _ = try await timeline.paginateBack(5)
            XCTFail("paginateBack after the session went away")
        } catch JabberKitError.Other {
            // Expected: the timeline was cancelled.
        }

        // A restart: new lists start from the store.
        let again = try JabberKitSession(config: aliceConfig)
        let againList = record(again.conversationList())
        let againListDiffs = record(again.conversationListDiffs())
        let againTimeline = try again.timeline(with: bobJid, page: 60)
        let againMessages = record(againTimeline.messages)
        let againDiffs = record(againTimeline.diffs)
        let conversations = try again.conversations()
        let history = try again.history(with: bobJid, limit: 60)
        XCTAssertEqual(history.count, 44)
        let firstList = try await againList.waitFor("the first list") { !$0.isEmpty }[0]
        XCTAssertEqual(firstList, conversations)
        let firstListBatch = try await againListDiffs.waitFor("the first list batch") { !$0.isEmpty }[0]
        XCTAssertEqual(firstListBatch, [.reset(items: conversations)])
        let firstTimeline = try await againMessages.waitFor("the first timeline") { !$0.isEmpty }[0]
        XCTAssertEqual(firstTimeline, history)
        let firstTimelineBatch = try await againDiffs.waitFor("the first timeline batch") { !$0.isEmpty }[0]
        XCTAssertEqual(firstTimelineBatch, [.reset(items: history)])
    }

    /// Whether `batch` is a single reset (with `count` items, if given).
    private func isReset<D: ListDiff & Equatable>(_ batch: [D]?, count: Int? = nil) -> Bool {
        guard let batch, batch.count == 1 else { return false }
        let items = batch[0].applied(to: [])
        return (count.map { items.count == $0 } ?? true) && batch[0] == D.reset(items: items)
    }

    func testATimelineOutlivesItsObserversAndStopsWhenReleased() async throws {
        let session = try JabberKitSession(config: server.config(try server.newAccount("alice"), store: try newStore()))
        let bob = "bob@\(server.domain)"
        assertThrowsJabberKitError("a malformed JID", try session.timeline(with: "not a jid@@"), isInvalidInput)
        assertThrowsJabberKitError("an empty page", try session.timeline(with: bob, page: 0), isInvalidInput)

        var timeline: Timeline? = try session.timeline(with: bob, page: 10)
        weak var released = timeline
        let first = record(timeline!.messages)
        try await first.waitFor("the empty timeline") { $0 == [[]] }
        first.cancel()
        try await first.waitUntilFinished("the first observer's loop ended")

        // Offline, a sent message is stored (queued): the timeline goes on without observers.
        let id = try session.send(to: bob, body: "later")
        let second = record(timeline!.messages)
        let diffs = record(timeline!.diffs)
        try await second.waitFor("the queued message") { $0.last?.map(\.id) == [id] }
        try await diffs.waitFor("the queued message as diffs") { $0.joined().applied(to: []).map(\.id) == [id] }
        let more = try await timeline!.paginateBack(10)
        XCTAssertFalse(more, "nothing older")

        timeline = nil // the last reference: the timeline stops and its streams finish
        XCTAssertNil(released, "nothing else holds the timeline")
        try await second.waitUntilFinished("the messages stream finished with the timeline")
        try await diffs.waitUntilFinished("the diffs stream finished with the timeline")
        XCTAssertEqual(try session.history(with: bob).map(\.id), [id], "the session goes on")
    }

    func testAppliedToAppliesEachKindOfDiffInOrder() {
        func message(_ id: String) -> Message {
            Message(
                id: id, conversation: "bob@example.test", outgoing: false, sender: "bob@example.test", body: id,
                timestampMs: 0, state: .received, failureReason: nil, corrected: false)
        }
        let (a, b, c, d) = (message("a"), message("b"), message("c"), message("d"))
        XCTAssertEqual(TimelineDiff.reset(items: [a, b]).applied(to: [c]), [a, b])
        XCTAssertEqual(TimelineDiff.insert(index: 1, item: c).applied(to: [a, b]), [a, c, b])
        XCTAssertEqual(TimelineDiff.set(index: 0, item: d).applied(to: [a, b]), [d, b])
        XCTAssertEqual(TimelineDiff.remove(index: 1).applied(to: [a, b]), [a])
        // A batch: each index refers to the list after the changes before it.
        let batch: [TimelineDiff] = [
            .reset(items: [a]), .insert(index: 1, item: b), .insert(index: 0, item: c), .remove(index: 1),
            .set(index: 1, item: d),
        ]
        XCTAssertEqual(batch.applied(to: []), [c, d])

        let conversation = Conversation(peer: "bob@example.test", lastMessage: a, unread: 1, kind: .chat)
        let read = Conversation(peer: "bob@example.test", lastMessage: b, unread: 0, kind: .chat)
        let carol = Conversation(peer: "carol@example.test", lastMessage: c, unread: 2, kind: .chat)
        let changes: [ConversationListDiff] = [
            .reset(items: [conversation]), .insert(index: 0, item: carol), .set(index: 1, item: read),
        ]
        XCTAssertEqual(changes.applied(to: []), [carol, read])
        XCTAssertEqual(ConversationListDiff.remove(index: 0).applied(to: [carol, read]), [read])
    }
}
