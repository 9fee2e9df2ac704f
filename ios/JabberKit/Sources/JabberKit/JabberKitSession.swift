// The idiomatic Swift layer over the generated bindings: one account as a
// `JabberKitSession`, its listeners turned into `AsyncStream`s. The
// conversation list, timelines and occupant lists the core keeps are in
// Lists.swift.
import Foundation

/// What happens to messages, in the order JabberKit reports it.
public enum MessageEvent: Sendable, Equatable {
    /// A message was stored: a new incoming one (reported once, ever), or an
    /// outgoing one that `send(to:body:)` just queued.
    case new(Message)
    /// The outgoing message `id` of the conversation with `conversation`
    /// (the peer's bare JID) moved on: sent, acked by the server, delivered
    /// to the peer, read by the peer, or failed.
    case stateChanged(id: String, conversation: String, state: DeliveryState)
    /// A stored message's body was corrected by its sender (also by our own
    /// `correct(_:body:)`): same id, replace it in place (`corrected` is true).
    case corrected(Message)
    /// The conversation with `with` was marked read, by `markRead(_:)` (when
    /// it cleared unread messages) or on another device of the account: its
    /// unread count is now 0.
    case conversationRead(with: String)
    /// Catching up from the server's archive after a fresh login progressed;
    /// the messages themselves arrive as `.new`.
    case catchUp(fetched: UInt32, complete: Bool)
    /// A stored message changed in place (same id), other than by a
    /// correction: our file finished uploading, so it now has its link (also
    /// its body). Replace it where you show it.
    case updated(Message)
    /// Our upload of message `id`'s file, or a `download(_:into:)` of it, moved
    /// on: `done` of `total` bytes. A finished download arrives as `.updated`.
    case transfer(id: String, conversation: String, done: UInt64, total: UInt64?)
    /// `download(_:into:)` of message `id`'s file failed for good (after its
    /// retries); nothing was kept.
    case downloadFailed(id: String, conversation: String, reason: String)
}

/// Our server answered about push notifications to `service`'s `node`
/// (`enablePush`, `disablePush`, and again on each fresh session): `enabled`
/// once it will notify there; false once it stopped, or with `refused` (its
/// reason) if it would not.
public struct PushEvent: Sendable, Equatable {
    public let service: String
    public let node: String
    public let enabled: Bool
    public let refused: String?
}

/// What happens to contacts, in the order JabberKit reports it.
public enum ContactEvent: Sendable, Equatable {
    /// The contact list changed: read `roster()` again.
    case rosterChanged
    /// `from` asks to see our presence: answer with `approve` or `deny`.
    case subscriptionRequest(from: String)
    /// `from`'s availability changed; a nil `show` means offline.
    case presence(from: String, show: Show?, status: String?)
    /// `from`'s chat state changed.
    case typing(from: String, state: TypingState)
}

/// What happens in group chat rooms (XEP-0045), in the order JabberKit
/// reports it. A room's messages arrive on `messages` like any other: their
/// conversation is the room's bare JID, and `Message.roomNick` says who said
/// it.
public enum RoomEvent: Sendable, Equatable {
    /// We are in `room` as `nick` (after `joinRoom` or `createRoom`, and
    /// again after each new session).
    case joined(room: String, nick: String)
    /// `room` refused us (a missing or wrong password, a ban, a nickname in
    /// use…) or sent us away; `text` is the room's own words, if any. It is
    /// not entered again by itself, except after `.kicked` (which only ends
    /// this visit).
    case error(room: String, error: RoomError, text: String?)
    /// Who is in `room` changed: read `occupants(in:)` again.
    case occupantsChanged(room: String)
    /// `from` invites us to `room` (through the room, or directly): accept
    /// with `joinRoom` and `password` as it is (the room's, when the
    /// invitation carries it; it prints as `Password(<redacted>)` and
    /// compares by value), refuse with `declineInvitation`, or ignore it.
    case invited(room: String, from: String, password: Password?, reason: String?)
    /// `room`'s subject changed (nil: cleared), or is the one the room told
    /// us as we entered.
    case subjectChanged(room: String, subject: String?)
    /// `room` refused what we asked of it: `action` is `invite`,
    /// `decline_invitation`, `set_subject`, `kick`, `ban` or
    /// `destroy_room`; `condition` the room's reason (`forbidden`,
    /// `not-allowed`, `item-not-found`…); `text` its own words, if any.
    case actionFailed(room: String, action: String, condition: String, text: String?)
    /// We left `room`: here (`leaveRoom`), or another device of the
    /// account left it.
    case left(room: String)
    /// `from` declined our invitation to `room`.
    case inviteDeclined(room: String, from: String, reason: String?)
    /// Catching up with `room` from its archive progressed: `fetched`
    /// archived messages so far; `complete` once done.
    case catchUp(room: String, fetched: UInt32, complete: Bool)

    /// The room's bare JID.
    public var room: String {
        switch self {
        case .joined(let room, _), .error(let room, _, _), .occupantsChanged(let room),
            .invited(let room, _, _, _), .subjectChanged(let room, _), .actionFailed(let room, _, _, _),
            .left(let room), .inviteDeclined(let room, _, _), .catchUp(let room, _, _):
            return room
        }
    }
}

/// One account: connection, message store, events.
///
/// Threading: `init` opens the store and `send`, `history` and
/// `conversations` read or write it (milliseconds at most); call them off
/// the main thread. `connect`, `networkAvailable` and `state` return at once.
/// Nothing here waits on the network except `disconnect`.
///
/// Dropping the last reference stops every stream (they finish) and every
/// `Timeline` (`paginateBack` then throws), and frees the native client,
/// which ends the connection; `disconnect()` first closes it cleanly.
public final class JabberKitSession: Sendable {
    let client: Client
    let registrations = Registrations()

    /// The account's bare JID.
    public let jid: String

    /// Opens (or creates) the account's store; does not connect.
    ///
    /// - Throws: `JabberKitError.InvalidInput` for a malformed JID or an
    ///   empty password; `JabberKitError.Storage` if the store cannot be
    ///   opened. (An unusable server address or CA is reported by `connect()`.)
    public init(config: ClientConfig) throws {
        client = try Client(config: config)
        jid = client.jid()
    }

    deinit {
        registrations.stopAll()
    }

    /// Starts JabberKit's logging to the unified log (subsystem
    /// `org.jabberkit`; on Linux, to stderr). Call once at start-up; calling
    /// again changes the level.
    public static func enableLogging(_ level: LogLevel = .info) {
        initLogging(level: level)
    }

    /// Starts connecting in the background and returns at once; follow
    /// `states`. Also retries after `ConnectionState.failed`.
    ///
    /// - Throws: `JabberKitError.InvalidInput` for an unusable server
    ///   address or CA.
    public func connect() throws {
        try client.connect()
    }

    /// Closes the connection cleanly and returns once it is closed (a few
    /// seconds at most). Queued messages stay queued for the next `connect()`.
    public func disconnect() async {
        await client.disconnect()
    }

    /// Stores a message to `to` (a bare JID), queues it and returns its id.
    /// Once this returns, the message survives an app kill; it goes out as soon
    /// as the account is online, and its progress arrives on `messages`.
    /// `to` may be a room joined with `joinRoom` (the message is `.delivered`
    /// once the room sent it back to everyone) or an occupant,
    /// `room@service/nick` (a private message).
    ///
    /// - Throws: `JabberKitError.InvalidInput` for a malformed JID or an
    ///   unsendable body.
    public func send(to: String, body: String) throws -> String {
        try client.sendMessage(to: to, body: body)
    }

    /// Stores the file at `path` for `to` (like `send(to:body:)`) and returns
    /// its message at once, `.queued`, its `attachment` naming the file. It
    /// is uploaded to the account's server (XEP-0363) when online, reported
    /// as `.transfer` on `messages`; `.updated` then brings its link, and it
    /// goes out like any message. The file must stay at `path` until the
    /// message is `.acked` (copy a shared file into the app's storage first).
    /// `mimeType` is guessed from the name's extension when nil.
    ///
    /// - Throws: `JabberKitError.InvalidInput` for a bad recipient or a path
    ///   that is not a readable, non-empty file.
    public func sendFile(to: String, path: String, mimeType: String? = nil) throws -> Message {
        try client.sendFile(to: to, path: path, mimeType: mimeType)
    }

    /// Downloads message `id`'s file into the directory `dir` and returns at
    /// once: progress comes as `.transfer` on `messages`, the end as
    /// `.updated` (its attachment's `localPath` is the file) or
    /// `.downloadFailed`. HTTPS only, at most 1 GiB; the file gets the
    /// attachment's name (`name (1).ext` when taken).
    ///
    /// - Throws: `JabberKitError.InvalidInput` for a message without a file
    ///   link, one being downloaded already, or a `dir` that is no directory.
    public func download(_ id: String, into dir: String) throws {
        try client.download(id: id, dir: dir)
    }

    /// Up to `limit` messages exchanged with `peer` (a contact, a room, or an
    /// occupant for private messages), older than the message `before` (the
    /// newest when nil), oldest first.
    public func history(with peer: String, before: String? = nil, limit: Int = 50) throws -> [Message] {
        try client.history(with: peer, before: before, limit: UInt32(clamping: limit))
    }

    /// One entry per conversation, the most recently active first.
    public func conversations() throws -> [Conversation] {
        try client.conversations()
    }

    /// Messages containing every word of `query` (the last as a prefix),
    /// best match first; any text is valid.
    public func search(_ query: String, limit: Int = 50) throws -> [SearchHit] {
        try client.search(query: query, limit: UInt32(clamping: limit))
    }

    /// Marks the conversation with `peer` read; returns how many messages
    /// were unread. If any were, the peer sees them read, our other devices
    /// mark the conversation read too, and `messages` reports
    /// `.conversationRead(with: peer)`.
    @discardableResult
    public func markRead(_ peer: String) throws -> Int {
        Int(try client.markRead(with: peer))
    }

    /// Corrects our last message `id` in its conversation to `body`, and
    /// returns it as stored; `messages` reports it as `.corrected` too.
    /// - Throws: `JabberKitError.InvalidInput` if it is not our last message
    ///   there, or for a bad body.
    public func correct(_ id: String, body: String) throws -> Message {
        try client.correct(id: id, body: body)
    }

    /// Sends our failed message `id` again (a "retry" tap): queued like a
    /// new one, with the same id (a peer that got it after all sees it
    /// once) and its place; `messages` follows its state.
    /// - Throws: `JabberKitError.InvalidInput` if it is not our failed message.
    public func retry(_ id: String) throws -> Message {
        try client.retry(id: id)
    }

    /// Tells JabberKit the app moved to the foreground (`true`) or the
    /// background (`false`): in the background the server holds back what
    /// can wait. Call it from scene phase changes; remembered across
    /// reconnects.
    public func setForeground(_ active: Bool) {
        client.setForeground(active: active)
    }

    /// The contact list as last stored (also before connecting).
    public func roster() throws -> [Contact] {
        try client.roster()
    }

    /// Adds (or renames) `jid` and asks to see its presence. Needs the account online.
    public func addContact(_ jid: String, name: String? = nil) throws {
        try client.addContact(jid: jid, name: name)
    }

    /// Renames `jid` and sets its groups (both replace what was there),
    /// without asking permission again. Needs the account online.
    public func updateContact(_ jid: String, name: String?, groups: [String]) throws {
        try client.updateContact(jid: jid, name: name, groups: groups)
    }

    /// Lets `jid` see our presence, and asks to see theirs. Needs the account online.
    public func approve(_ jid: String) throws {
        try client.approve(jid: jid)
    }

    /// Refuses (or revokes) `jid`'s permission to see our presence. Needs the account online.
    public func deny(_ jid: String) throws {
        try client.deny(jid: jid)
    }

    /// Removes `jid` from the contact list. Needs the account online.
    public func removeContact(_ jid: String) throws {
        try client.removeContact(jid: jid)
    }

    /// Sets our availability and status text.
    public func setPresence(_ show: Show, status: String? = nil) throws {
        try client.setPresence(show: show, status: status)
    }

    /// Every contact known to be available.
    public func presences() throws -> [ContactPresence] {
        try client.presences()
    }

    /// Enters `room` (`room@conference.example.org`) as `nick`, with its
    /// `password` if it has one. Returns once the room is remembered (one
    /// SQLite write); the outcome arrives on `roomEvents` as `.joined` or
    /// `.error`. The room is entered again on every new session until
    /// `leaveRoom` or a refusal; offline, once online.
    ///
    /// - Throws: `JabberKitError.InvalidInput` for a malformed room JID or
    ///   nickname.
    public func joinRoom(_ room: String, nick: String, password: Password? = nil) throws {
        try client.joinRoom(room: room, nick: nick, password: password)
    }

    /// Asks the account's server to notify the app server `service` (a JID,
    /// from the app's push registration with it) at `node` while this device
    /// is not connected, with `secret` in every notification if the app
    /// server gave one. Stored: enabled again on every fresh session, at once
    /// if online; a registration it replaces is disabled. Answers arrive on
    /// `pushEvents`.
    ///
    /// - Throws: `JabberKitError.InvalidInput` for a `service` that is not a
    ///   JID or an empty `node`.
    public func enablePush(service: String, node: String, secret: Password? = nil) throws {
        try client.enablePush(service: service, node: node, secret: secret)
    }

    /// Stops push notifications to this device (at once if online, else on
    /// the next fresh session).
    public func disablePush() throws {
        try client.disablePush()
    }

    /// Changes the account's password on its server (XEP-0077). Once the
    /// server confirmed, this session's later logins use `new`; store it for
    /// the next config. Online only; waits for the server (at most 30 s).
    ///
    /// - Throws: `AccountError.NotConnected` unless online, `.Refused` with
    ///   the server's reason, `.Unknown` if the connection was lost or no
    ///   answer came (the change may have happened), `.InvalidInput` for an
    ///   empty password.
    public func changePassword(_ new: Password) async throws {
        try await client.changePassword(new: new)
    }

    /// Removes the account from its server for good (XEP-0077; the App Store
    /// requires an app that creates accounts to offer this). The session
    /// then ends (`.disconnected`); the local store stays for the app to
    /// delete. Online only; throws as `changePassword(_:)`.
    public func deleteAccount() async throws {
        try await client.deleteAccount()
    }

    /// Creates `room` and enters it as `nick`, its owner, set up as `config`
    /// says; otherwise like `joinRoom`. If the room exists already, this
    /// joins it (with the config's password) and changes nothing.
    public func createRoom(_ room: String, nick: String, config: RoomConfig = RoomConfig()) throws {
        try client.createRoom(room: room, nick: nick, config: config)
    }

    /// Leaves `room` and stops entering it on new sessions; its messages
    /// stay in the store.
    public func leaveRoom(_ room: String) throws {
        try client.leaveRoom(room: room)
    }

    /// The rooms this account knows: those it is in, entering, or left
    /// (`autojoin` false).
    public func rooms() throws -> [Room] {
        try client.rooms()
    }

    /// Who is in `room` (ourselves included, as `Room.nick`), by nickname,
    /// as last seen; `.occupantsChanged` on `roomEvents` says when to read
    /// it again, or let `occupantList(in:)` (Lists.swift) keep it for you.
    public func occupants(in room: String) throws -> [Occupant] {
        try client.occupants(room: room)
    }

    // Acting on a room: each call needs the account online (nothing is
    // queued; `JabberKitError.NotConnected` otherwise) and returns at once;
    // the room's refusal arrives on `roomEvents` as `.actionFailed`, its
    // success as what the room tells everyone. A malformed room, JID or
    // nick, or an unsendable text, throws `JabberKitError.InvalidInput`.

    /// Invites `jid` (a bare JID) to `room` through the room, which adds its
    /// password (in a members-only room, an owner's invitation makes `jid` a
    /// member). They get `.invited`.
    public func invite(_ jid: String, to room: String, reason: String? = nil) throws {
        try client.invite(room: room, jid: jid, reason: reason)
    }

    /// Invites `jid` to `room` directly (XEP-0249): from us, with the
    /// room's password. Needs the account online.
    public func inviteDirect(_ jid: String, to room: String, reason: String? = nil) throws {
        try client.inviteDirect(room: room, jid: jid, reason: reason)
    }

    /// Tells `inviter` (as `.invited` named them) through `room` that we
    /// will not join.
    public func declineInvitation(to room: String, from inviter: String, reason: String? = nil) throws {
        try client.declineInvitation(room: room, from: inviter, reason: reason)
    }

    /// Sets `room`'s subject (empty: clears it); everyone in it, us
    /// included, gets `.subjectChanged`. Moderators only, unless the room
    /// lets everyone.
    public func setSubject(of room: String, to subject: String) throws {
        try client.setSubject(room: room, subject: subject)
    }

    /// Sends the occupant `nick` out of `room`: they get `.kicked` and may
    /// come back. Moderators only.
    public func kick(_ nick: String, from room: String, reason: String? = nil) throws {
        try client.kick(room: room, nick: nick, reason: reason)
    }

    /// Bans the account `jid` (a bare JID) from `room`: sent out now
    /// (`.banned`), refused later. Admins and owners only.
    public func ban(_ jid: String, from room: String, reason: String? = nil) throws {
        try client.ban(room: room, jid: jid, reason: reason)
    }

    /// Destroys `room`: everyone in it is sent away, we too (`.destroyed`
    /// with `reason`). Owners only.
    public func destroyRoom(_ room: String, reason: String? = nil) throws {
        try client.destroyRoom(room: room, reason: reason)
    }

    /// Tells `peer` our chat state (sent only while online, never stored).
    public func setTyping(with peer: String, state: TypingState) throws {
        try client.setTyping(with: peer, state: state)
    }

    /// Creates the account of `config` (its JID's user part, its password)
    /// on its server (XEP-0077), over one verified TLS connection; then a
    /// session with the same config logs in. Does not retry.
    /// - Throws: `SignUpError` (`.UsernameTaken`, `.Refused`, `.NotOffered`
    ///   with the server's instructions or url, `.TooSoon`, `.Certificate`,
    ///   `.Network`, `.InvalidInput`).
    public static func signUp(_ config: ClientConfig) async throws {
        try await JabberKit.signUp(config: config)
    }

    /// Reports the device's network: `false` stops connection attempts, any
    /// report retries at once. Call it on every change.
    public func networkAvailable(_ available: Bool) {
        client.networkAvailable(available: available)
    }

    /// The DNS servers of the network the device is on now (IP strings;
    /// empty: the system's), for the SRV lookups of the next connection
    /// attempts. Call it on every network change, before
    /// `networkAvailable`. Returns at once; throws `InvalidInput` for an
    /// entry that is not an IP address.
    public func setDnsServers(_ servers: [String]) throws {
        try client.setDnsServers(servers: servers)
    }

    /// The connection state right now.
    public var state: ConnectionState {
        client.state()
    }

    /// The current connection state at once, then every change, in order.
    ///
    /// Each access starts a new observation. It ends when the iterating task
    /// is cancelled or the session goes away (the stream then finishes);
    /// leaving a `for await` loop early does not end it.
    public var states: AsyncStream<ConnectionState> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: ConnectionState.self, bufferingPolicy: .unbounded)
        let handle = client.observeConnectionState(listener: StateListener(continuation))
        keep(handle, until: continuation)
        return stream
    }

    /// Every message stored and every delivery state change from now on, in
    /// order (nothing is replayed: read `history` and `conversations` after
    /// subscribing for what came before, or let `conversationList()` and
    /// `timeline(with:page:)` keep the lists for you). Ends like `states`.
    public var messages: AsyncStream<MessageEvent> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: MessageEvent.self, bufferingPolicy: .unbounded)
        let handle = client.observeMessages(listener: MessageEventListener(continuation))
        keep(handle, until: continuation)
        return stream
    }

    /// Roster, subscription, presence and typing events from now on, in
    /// order (nothing is replayed: read `roster` and `presences` after
    /// subscribing). Ends like `states`.
    public var contactEvents: AsyncStream<ContactEvent> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: ContactEvent.self, bufferingPolicy: .unbounded)
        let handle = client.observeContacts(listener: ContactEventListener(continuation))
        keep(handle, until: continuation)
        return stream
    }

    /// Our server's answers about push notifications from now on, in order.
    /// Ends like `states`.
    public var pushEvents: AsyncStream<PushEvent> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: PushEvent.self, bufferingPolicy: .unbounded)
        let handle = client.observePush(listener: PushEventListener(continuation))
        keep(handle, until: continuation)
        return stream
    }

    /// Rooms joined, refused or left, their occupants and subjects changing,
    /// invitations, and actions a room refused, from now on, in order
    /// (nothing is replayed: read `rooms` and `occupants(in:)` after
    /// subscribing). Ends like `states`.
    public var roomEvents: AsyncStream<RoomEvent> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: RoomEvent.self, bufferingPolicy: .unbounded)
        let handle = client.observeRooms(listener: RoomEventListener(continuation))
        keep(handle, until: continuation)
        return stream
    }

    /// Keeps the listener registered until the stream ends or the session goes away.
    func keep<Element>(_ handle: TaskHandle, until continuation: AsyncStream<Element>.Continuation) {
        let registrations = self.registrations
        let id = registrations.add {
            handle.cancel()
            continuation.finish()
        }
        continuation.onTermination = { _ in
            handle.cancel()
            registrations.remove(id)
        }
    }
}

extension JabberKitError {
    /// The human-readable reason, whatever the kind.
    public var reason: String {
        switch self {
        case .InvalidInput(let reason), .Storage(let reason), .Other(let reason):
            return reason
        case .NotConnected:
            return "not connected"
        case .StoreTooNew(let found, let supported):
            return "the message store is from a newer JabberKit (schema \(found); this build reads up to \(supported))"
        }
    }
}

// The listeners run on a JabberKit thread, one call at a time and in order.
// They only hand the value over: the buffers are unbounded, so the Rust side
// never waits on Swift.

private final class StateListener: ConnectionStateListener {
    private let continuation: AsyncStream<ConnectionState>.Continuation

    init(_ continuation: AsyncStream<ConnectionState>.Continuation) {
        self.continuation = continuation
    }

    func onState(state: ConnectionState) {
        continuation.yield(state)
    }
}

private final class MessageEventListener: MessageListener {
    private let continuation: AsyncStream<MessageEvent>.Continuation

    init(_ continuation: AsyncStream<MessageEvent>.Continuation) {
        self.continuation = continuation
    }

    func onMessage(message: Message) {
        continuation.yield(.new(message))
    }

    func onMessageState(id: String, conversation: String, state: DeliveryState) {
        continuation.yield(.stateChanged(id: id, conversation: conversation, state: state))
    }

    func onCatchUp(fetched: UInt32, complete: Bool) {
        continuation.yield(.catchUp(fetched: fetched, complete: complete))
    }

    func onMessageCorrected(message: Message) {
        continuation.yield(.corrected(message))
    }

    func onConversationRead(with: String) {
        continuation.yield(.conversationRead(with: with))
    }

    func onMessageUpdated(message: Message) {
        continuation.yield(.updated(message))
    }

    func onTransfer(id: String, conversation: String, done: UInt64, total: UInt64?) {
        continuation.yield(.transfer(id: id, conversation: conversation, done: done, total: total))
    }

    func onDownloadFailed(id: String, conversation: String, reason: String) {
        continuation.yield(.downloadFailed(id: id, conversation: conversation, reason: reason))
    }
}

private final class PushEventListener: PushListener {
    private let continuation: AsyncStream<PushEvent>.Continuation

    init(_ continuation: AsyncStream<PushEvent>.Continuation) {
        self.continuation = continuation
    }

    func onPushChanged(service: String, node: String, enabled: Bool, refused: String?) {
        continuation.yield(PushEvent(service: service, node: node, enabled: enabled, refused: refused))
    }
}

private final class ContactEventListener: ContactListener {
    private let continuation: AsyncStream<ContactEvent>.Continuation

    init(_ continuation: AsyncStream<ContactEvent>.Continuation) {
        self.continuation = continuation
    }

    func onRosterChanged() {
        continuation.yield(.rosterChanged)
    }

    func onSubscriptionRequest(from: String) {
        continuation.yield(.subscriptionRequest(from: from))
    }

    func onPresence(from: String, show: Show?, status: String?) {
        continuation.yield(.presence(from: from, show: show, status: status))
    }

    func onTyping(from: String, state: TypingState) {
        continuation.yield(.typing(from: from, state: state))
    }
}

private final class RoomEventListener: RoomListener {
    private let continuation: AsyncStream<RoomEvent>.Continuation

    init(_ continuation: AsyncStream<RoomEvent>.Continuation) {
        self.continuation = continuation
    }

    func onRoomJoined(room: String, nick: String) {
        continuation.yield(.joined(room: room, nick: nick))
    }

    func onRoomError(room: String, error: RoomError, text: String?) {
        continuation.yield(.error(room: room, error: error, text: text))
    }

    func onOccupantsChanged(room: String) {
        continuation.yield(.occupantsChanged(room: room))
    }

    func onRoomInvite(room: String, from: String, password: Password?, reason: String?) {
        continuation.yield(.invited(room: room, from: from, password: password, reason: reason))
    }

    func onRoomSubject(room: String, subject: String?) {
        continuation.yield(.subjectChanged(room: room, subject: subject))
    }

    func onRoomActionFailed(room: String, action: String, condition: String, text: String?) {
        continuation.yield(.actionFailed(room: room, action: action, condition: condition, text: text))
    }

    func onRoomLeft(room: String) {
        continuation.yield(.left(room: room))
    }

    func onRoomInviteDeclined(room: String, from: String, reason: String?) {
        continuation.yield(.inviteDeclined(room: room, from: from, reason: reason))
    }

    func onRoomCatchUp(room: String, fetched: UInt32, complete: Bool) {
        continuation.yield(.catchUp(room: room, fetched: fetched, complete: complete))
    }
}

/// What the open streams and timelines need to stop (cancel the native
/// handle, finish the streams), so that `deinit` can stop every one still open.
final class Registrations: @unchecked Sendable {
    // Guards `next` and `stops`; never held while calling out.
    private let lock = NSLock()
    private var next: UInt64 = 0
    private var stops: [UInt64: @Sendable () -> Void] = [:]

    func add(stop: @escaping @Sendable () -> Void) -> UInt64 {
        lock.withLock {
            next += 1
            stops[next] = stop
            return next
        }
    }

    func remove(_ id: UInt64) {
        // The closure is released after the unlock: freeing the native handle
        // it holds calls into Rust.
        _ = lock.withLock { stops.removeValue(forKey: id) }
    }

    func stopAll() {
        let all = lock.withLock {
            let all = Array(stops.values)
            stops.removeAll()
            return all
        }
        for stop in all {
            stop()
        }
    }
}
