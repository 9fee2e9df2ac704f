import Foundation
import JabberKit
import XCTest

final class LifecycleTests: LiveServerTestCase, @unchecked Sendable {
    func testADroppedSessionClosesItsConnectionAndFinishesItsStreams() async throws {
        let proxy = try faultProxy()
        let jid = try server.newAccount("alice")
        var session: JabberKitSession? = try JabberKitSession(config: server.config(jid, store: try newStore(), server: proxy.addr))
        let states = record(session!.states)
        let messages = record(session!.messages)
        try await online(session!)
        XCTAssertEqual(try proxy.liveConnections(), 1)
        weak var released = session

        session = nil // the last reference: deinit stops the streams and frees the native client

        XCTAssertNil(released, "nothing else holds the session")
        try await states.waitUntilFinished("the states stream finished")
        try await messages.waitUntilFinished("the messages stream finished")
        try await poll("no live connection after the session was dropped", { try proxy.liveConnections() }) { $0 == 0 }
    }

    func testCancellingAStreamsConsumerEndsItAndTheSessionGoesOn() async throws {
        let session = try JabberKitSession(config: server.config(try server.newAccount("alice"), store: try newStore()))
        let cancelled = record(session.states)
        let kept = record(session.states)
        try await cancelled.awaitValue("the current state") { $0 == .disconnected }

        cancelled.cancel()
        try await cancelled.waitUntilFinished("the cancelled consumer's loop ended")
        try session.connect()

        try await kept.awaitValue("online at the kept stream") { $0 == .online(resumed: false) }
        XCTAssertEqual(kept.values.first, .disconnected, "the current state comes first")
        XCTAssertFalse(cancelled.values.contains { $0 == .connecting || $0.isOnline }, "\(cancelled.values)")
    }

    /// What the layer relies on when a consumer goes away: cancelling the
    /// TaskHandle makes the core drop the listener, and with it everything
    /// the listener holds (in the layer, the stream's continuation).
    func testACancelledHandleReleasesItsListener() async throws {
        let client = try Client(config: server.config(try server.newAccount("alice"), store: try newStore()))
        final class Listener: ConnectionStateListener, @unchecked Sendable {
            let lock = NSLock()
            var states: [ConnectionState] = []
            func onState(state: ConnectionState) { lock.withLock { states.append(state) } }
        }
        var listener: Listener? = Listener()
        weak var weakListener = listener
        var handle: TaskHandle? = client.observeConnectionState(listener: listener!)
        try await poll("the current state at the listener", { weakListener?.lock.withLock { weakListener?.states } ?? [] }) {
            $0 == [.disconnected]
        }
        listener = nil
        XCTAssertNotNil(weakListener, "the core holds the listener while it is registered")

        handle!.cancel()
        handle!.cancel() // twice is fine
        handle = nil

        try await poll("the listener released after cancel", { weakListener == nil }) { $0 }
        try client.connect()
        _ = client // kept alive to here
    }

    func testOpeningAndDroppingTwentyConnectedSessionsLeaksNoThreadsAndNoFiles() async throws {
        let jid = try server.newAccount("alice")
        let peer = try server.newAccount("bob")
        func count(_ dir: String) throws -> Int { try FileManager.default.contentsOfDirectory(atPath: dir).count }
        func cycle() async throws {
            let session = try JabberKitSession(config: server.config(jid, store: try newStore()))
            let events = Recording(session.messages) // a subscriber, as an app would have
            try await online(session)
            _ = try session.send(to: peer, body: "hi")
            try await events.awaitValue("the queued message") { $0.newMessage != nil }
            await session.disconnect()
        }
        // Warm up: the runtime, the Swift concurrency pool, the server's caches.
        try await cycle()
        let threads = try count("/proc/self/task")
        let files = try count("/proc/self/fd")

        for _ in 0..<20 { try await cycle() }

        // Background work winds down after the release (streams closing,
        // idle pool threads): wait for it, bounded. A leak per session would
        // leave 20 or more behind.
        try await poll("OS threads <= \(threads) + 8", { try count("/proc/self/task") }) { $0 <= threads + 8 }
        try await poll("open files <= \(files) + 8", { try count("/proc/self/fd") }) { $0 <= files + 8 }
    }
}
