// The lists the core keeps up to date for a UI: the conversation list, one
// conversation's timeline and one room's occupants, as batches of diffs or as
// the whole list after each batch. The core reads the store and works out the changes, so a UI
// never re-queries and shows what every other platform shows.
import Foundation

// MARK: - Applying diffs

/// A change to a list the core keeps: `ConversationListDiff`,
/// `TimelineDiff` or `OccupantListDiff`. All have the same four cases, so one set of helpers
/// applies either, and generic UI code can take any `ListDiff`.
///
/// Apply every batch, in order, to the list built from the same stream:
/// an index refers to the list after the changes before it. (An index out of
/// range traps, as Array's subscript does.)
public protocol ListDiff: Sendable {
    associatedtype Item: Sendable

    /// The change that replaces the whole list with `items`.
    static func reset(items: [Item]) -> Self

    /// Applies this change to `items`, in place.
    func apply(to items: inout [Item])
}

extension ListDiff {
    /// `items` with this change applied.
    public func applied(to items: [Item]) -> [Item] {
        var items = items
        apply(to: &items)
        return items
    }
}

extension Sequence where Element: ListDiff {
    /// Applies this batch of changes to `items`, in order, in place.
    public func apply(to items: inout [Element.Item]) {
        for diff in self {
            diff.apply(to: &items)
        }
    }

    /// `items` with this batch of changes applied, in order: what a UI shows
    /// after the batch.
    public func applied(to items: [Element.Item]) -> [Element.Item] {
        var items = items
        apply(to: &items)
        return items
    }
}

extension ConversationListDiff: ListDiff {
    public func apply(to items: inout [Conversation]) {
        switch self {
        case .reset(let all): items = all
        case .insert(let index, let item): items.insert(item, at: Int(index))
        case .set(let index, let item): items[Int(index)] = item
        case .remove(let index): items.remove(at: Int(index))
        }
    }
}

extension TimelineDiff: ListDiff {
    public func apply(to items: inout [Message]) {
        switch self {
        case .reset(let all): items = all
        case .insert(let index, let item): items.insert(item, at: Int(index))
        case .set(let index, let item): items[Int(index)] = item
        case .remove(let index): items.remove(at: Int(index))
        }
    }
}

extension OccupantListDiff: ListDiff {
    public func apply(to items: inout [Occupant]) {
        switch self {
        case .reset(let all): items = all
        case .insert(let index, let item): items.insert(item, at: Int(index))
        case .set(let index, let item): items[Int(index)] = item
        case .remove(let index): items.remove(at: Int(index))
        }
    }
}

// MARK: - The conversation list

extension JabberKitSession {
    /// The conversation list's changes, in batches: the first batch is a
    /// `.reset` with the whole list (the most recently active first), then
    /// come the changes as messages are stored, sent, corrected and read.
    /// For list views that animate insertions and moves; apply each batch
    /// with `applied(to:)`.
    ///
    /// Each call follows a list of its own in the core, from now on (also
    /// before connecting: the store is enough). It ends like `states`, and
    /// ending it stops that list.
    public func conversationListDiffs() -> AsyncStream<[ConversationListDiff]> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: [ConversationListDiff].self, bufferingPolicy: .unbounded)
        let handle = client.observeConversationList(
            listener: ConversationListForwarder { continuation.yield($0) })
        keep(handle, until: continuation)
        return stream
    }

    /// The conversation list, the most recently active first: the whole
    /// list at once, then again after each batch of changes. Follows its own
    /// list like `conversationListDiffs()`, and ends like it.
    public func conversationList() -> AsyncStream<[Conversation]> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: [Conversation].self, bufferingPolicy: .unbounded)
        let list = AppliedList<ConversationListDiff>()
        let handle = client.observeConversationList(
            listener: ConversationListForwarder { continuation.yield(list.apply($0)) })
        keep(handle, until: continuation)
        return stream
    }

    /// Follows the conversation with `peer` (a bare JID): its newest `page`
    /// messages, then every new, corrected and progressing one; older ones
    /// with `Timeline.paginateBack(_:)`.
    ///
    /// - Throws: `JabberKitError.InvalidInput` for a malformed JID or a
    ///   `page` of 0.
    public func timeline(with peer: String, page: UInt32 = 50) throws -> Timeline {
        try Timeline(client: client, registrations: registrations, peer: peer, page: page)
    }
}

// MARK: - A room's occupants

extension JabberKitSession {
    /// The changes to who is in `room`, in batches: the first batch is a
    /// `.reset` with the occupants as last seen (by nickname, ourselves
    /// included), then come joins, leaves, nick changes, kicks and bans; the
    /// list empties when we leave or are sent away. For member lists that
    /// animate arrivals and departures; apply each batch with `applied(to:)`.
    ///
    /// Each call follows a list of its own in the core, from now on (also
    /// before connecting or joining). It ends like `states`, and ending it
    /// stops that list.
    ///
    /// - Throws: `JabberKitError.InvalidInput` if `room` is not a room's
    ///   bare JID.
    public func occupantListDiffs(in room: String) throws -> AsyncStream<[OccupantListDiff]> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: [OccupantListDiff].self, bufferingPolicy: .unbounded)
        let handle = try client.observeOccupantList(
            room: room, listener: OccupantListForwarder { continuation.yield($0) })
        keep(handle, until: continuation)
        return stream
    }

    /// Who is in `room`, by nickname: the whole list at once, then again
    /// after each batch of changes. Follows its own list like
    /// `occupantListDiffs(in:)`, ends and throws like it.
    public func occupantList(in room: String) throws -> AsyncStream<[Occupant]> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: [Occupant].self, bufferingPolicy: .unbounded)
        let list = AppliedList<OccupantListDiff>()
        let handle = try client.observeOccupantList(
            room: room, listener: OccupantListForwarder { continuation.yield(list.apply($0)) })
        keep(handle, until: continuation)
        return stream
    }
}

// MARK: - A timeline

/// One conversation's messages, oldest first, kept up to date by the core.
///
/// One `Timeline` is one list in the core, followed from
/// `JabberKitSession.timeline(with:page:)` until the `Timeline` is released,
/// `cancel()` is called or the session goes away. It does not end with its
/// streams: `paginateBack(_:)` grows this one list, which must outlive any
/// one observer (a SwiftUI view subscribes again each time it appears).
///
/// The `Timeline` keeps the current messages itself, so `diffs` and
/// `messages` can be read by any number of observers, at any time: each
/// stream starts with the messages as they are now and then gets every
/// later batch, in order, none missed or repeated.
///
/// It is `Sendable`: use it from any task or actor. Its state is behind a
/// lock, and no code of yours ever runs while that lock is held.
public final class Timeline: Sendable {
    /// The peer's bare JID.
    public let peer: String
    private let handle: TimelineHandle
    private let feed: ListFeed<TimelineDiff>
    private let registrations: Registrations
    private let registration: UInt64

    init(client: Client, registrations: Registrations, peer: String, page: UInt32) throws {
        guard page > 0 else {
            throw JabberKitError.InvalidInput(reason: "a timeline page must hold at least one message")
        }
        let feed = ListFeed<TimelineDiff>()
        let handle = try client.observeTimeline(
            with: peer, page: page, listener: TimelineForwarder { feed.receive($0) })
        self.peer = peer
        self.handle = handle
        self.feed = feed
        self.registrations = registrations
        registration = registrations.add {
            handle.cancel()
            feed.finish()
        }
    }

    deinit {
        registrations.remove(registration)
        handle.cancel()
        feed.finish()
    }

    /// The changes, in batches: first a `.reset` with the messages as they
    /// are now (the newest page, if nothing has happened yet), then every
    /// later batch. Apply them with `applied(to:)`.
    ///
    /// Each access starts a new stream. It ends when the iterating task is
    /// cancelled, or when the timeline stops (then it finishes).
    public var diffs: AsyncStream<[TimelineDiff]> {
        feed.diffs()
    }

    /// The messages, oldest first: as they are now, then again after each
    /// batch of changes. Ends like `diffs`.
    public var messages: AsyncStream<[Message]> {
        feed.lists()
    }

    /// Loads up to `count` older messages at the start of the timeline and
    /// returns whether still older ones exist. When it returns, every stream
    /// of this timeline has the loaded messages queued.
    ///
    /// - Throws: `JabberKitError.Storage` if the store cannot be read;
    ///   `JabberKitError.Other` once the timeline has stopped.
    public func paginateBack(_ count: UInt32) async throws -> Bool {
        try await handle.paginateBack(count: count)
    }

    /// Stops following the conversation now, rather than when the
    /// `Timeline` is released: its streams finish. Idempotent.
    public func cancel() {
        handle.cancel()
        feed.finish()
    }
}

// MARK: - Plumbing

// The native listeners run on a JabberKit thread, one batch at a time and in
// order. They only hand the batch over (the streams' buffers are unbounded),
// so the Rust side never waits on Swift.

private final class ConversationListForwarder: ConversationListListener {
    private let receive: @Sendable ([ConversationListDiff]) -> Void

    init(_ receive: @escaping @Sendable ([ConversationListDiff]) -> Void) {
        self.receive = receive
    }

    func onDiffs(diffs: [ConversationListDiff]) {
        receive(diffs)
    }
}

private final class TimelineForwarder: TimelineListener {
    private let receive: @Sendable ([TimelineDiff]) -> Void

    init(_ receive: @escaping @Sendable ([TimelineDiff]) -> Void) {
        self.receive = receive
    }

    func onDiffs(diffs: [TimelineDiff]) {
        receive(diffs)
    }
}

private final class OccupantListForwarder: OccupantListListener {
    private let receive: @Sendable ([OccupantListDiff]) -> Void

    init(_ receive: @escaping @Sendable ([OccupantListDiff]) -> Void) {
        self.receive = receive
    }

    func onDiffs(diffs: [OccupantListDiff]) {
        receive(diffs)
    }
}

/// A list built by applying batches, for one stream. The batches come one
/// at a time already; the lock is what makes that provable to the compiler.
private final class AppliedList<Diff: ListDiff>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Diff.Item] = []

    /// Applies `batch` and returns the list after it.
    func apply(_ batch: [Diff]) -> [Diff.Item] {
        lock.withLock {
            batch.apply(to: &items)
            return items
        }
    }
}

/// A list built by applying batches, and the streams that follow it: each
/// starts with the list as it is and then gets every later batch.
///
/// The lock guards everything below and is held while yielding, so that a
/// new stream's first element and the batches after it come in order.
/// `yield` only buffers the element or resumes the waiting task, never runs
/// the consumer's code; what can call back into this class
/// (`finish`, releasing a continuation) happens after the unlock.
private final class ListFeed<Diff: ListDiff>: @unchecked Sendable {
    private enum Follower {
        case diffs(AsyncStream<[Diff]>.Continuation)
        case lists(AsyncStream<[Diff.Item]>.Continuation)

        func finish() {
            switch self {
            case .diffs(let continuation): continuation.finish()
            case .lists(let continuation): continuation.finish()
            }
        }
    }

    private let lock = NSLock()
    /// Nil until the first batch (a reset) arrives.
    private var items: [Diff.Item]?
    private var followers: [UInt64: Follower] = [:]
    private var next: UInt64 = 0
    private var finished = false

    /// The native listener's batch: applied, then handed to every stream.
    func receive(_ batch: [Diff]) {
        lock.withLock {
            guard !finished else { return }
            var list = items ?? []
            batch.apply(to: &list)
            items = list
            for follower in followers.values {
                switch follower {
                case .diffs(let continuation): continuation.yield(batch)
                case .lists(let continuation): continuation.yield(list)
                }
            }
        }
    }

    func diffs() -> AsyncStream<[Diff]> {
        let (stream, continuation) = AsyncStream.makeStream(of: [Diff].self, bufferingPolicy: .unbounded)
        if let id = follow(.diffs(continuation), start: { continuation.yield([Diff.reset(items: $0)]) }) {
            continuation.onTermination = { [weak self] _ in self?.remove(id) }
        } else {
            continuation.finish()
        }
        return stream
    }

    func lists() -> AsyncStream<[Diff.Item]> {
        let (stream, continuation) = AsyncStream.makeStream(of: [Diff.Item].self, bufferingPolicy: .unbounded)
        if let id = follow(.lists(continuation), start: { continuation.yield($0) }) {
            continuation.onTermination = { [weak self] _ in self?.remove(id) }
        } else {
            continuation.finish()
        }
        return stream
    }

    /// Adds `follower` after handing `start` the list as it is (if it has
    /// come yet); nil once finished.
    private func follow(_ follower: Follower, start: ([Diff.Item]) -> Void) -> UInt64? {
        lock.withLock {
            guard !finished else { return nil }
            if let items {
                start(items)
            }
            next += 1
            followers[next] = follower
            return next
        }
    }

    /// Finishes every stream; later ones finish at once. Idempotent.
    func finish() {
        let all = lock.withLock {
            finished = true
            let all = Array(followers.values)
            followers.removeAll()
            return all
        }
        for follower in all {
            follower.finish()
        }
    }

    private func remove(_ id: UInt64) {
        // Released after the unlock.
        _ = lock.withLock { followers.removeValue(forKey: id) }
    }
}
