package org.jabberkit.kt

import java.util.concurrent.atomic.AtomicBoolean
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.DisposableHandle
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.MutableSharedFlow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharedFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asSharedFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.withContext
import org.jabberkit.AccountException
import org.jabberkit.Client
import org.jabberkit.ClientConfig
import org.jabberkit.ConnectionState
import org.jabberkit.ConnectionStateListener
import org.jabberkit.Contact
import org.jabberkit.ContactListener
import org.jabberkit.ContactPresence
import org.jabberkit.Conversation
import org.jabberkit.ConversationListDiff
import org.jabberkit.ConversationListListener
import org.jabberkit.DeliveryState
import org.jabberkit.JabberKitException
import org.jabberkit.LogLevel
import org.jabberkit.Message
import org.jabberkit.initLogging
import org.jabberkit.SearchHit
import org.jabberkit.MessageListener
import org.jabberkit.Occupant
import org.jabberkit.OccupantListDiff
import org.jabberkit.OccupantListListener
import org.jabberkit.Password
import org.jabberkit.PushListener
import org.jabberkit.Room
import org.jabberkit.RoomConfig
import org.jabberkit.RoomError
import org.jabberkit.RoomListener
import org.jabberkit.Show
import org.jabberkit.TaskHandle
import org.jabberkit.TypingState

/** What happens to messages, in the order JabberKit reports it. */
sealed interface MessageEvent {
    /** A message was stored: a new incoming one (reported once, ever), or an outgoing one [JabberKit.send] just queued. */
    data class New(val message: Message) : MessageEvent

    /**
     * The outgoing message [id] of the conversation with [conversation] moved on: sent, acked by
     * the server, delivered to the peer, read by the peer, or failed.
     */
    data class StateChanged(val id: String, val conversation: String, val state: DeliveryState) : MessageEvent

    /** A stored message's body was corrected by its sender (also by [JabberKit.correct]): same id, replace it in place ([Message.corrected] is true). */
    data class Corrected(val message: Message) : MessageEvent

    /** The conversation with [with] was marked read (by [JabberKit.markRead] or on another device): its unread count is now 0. */
    data class ConversationRead(val with: String) : MessageEvent

    /**
     * Catching up from the server's archive after a fresh login progressed: [fetched] archived
     * stanzas so far; [complete] once it is done. The messages themselves arrive as [New].
     */
    data class CatchUp(val fetched: Int, val complete: Boolean) : MessageEvent

    /**
     * A stored message changed in place (same id), other than by a correction: our file finished
     * uploading, so it now has its link (also its body). Replace it where you show it.
     */
    data class Updated(val message: Message) : MessageEvent

    /**
     * Our upload of message [id]'s file, or a [JabberKit.download] of it, moved on: [done] of
     * [total] bytes ([total] null when unknown). A finished download arrives as [Updated].
     */
    data class Transfer(val id: String, val conversation: String, val done: Long, val total: Long?) : MessageEvent

    /** [JabberKit.download] of message [id]'s file failed for good (after its retries); nothing was kept. */
    data class DownloadFailed(val id: String, val conversation: String, val reason: String) : MessageEvent
}

/**
 * Our server answered about push notifications to [service]'s [node] ([JabberKit.enablePush],
 * [JabberKit.disablePush], and again on each fresh session): [enabled] once it will notify
 * there; false once it stopped, or with [refused] (its reason) if it would not.
 */
data class PushEvent(val service: String, val node: String, val enabled: Boolean, val refused: String?)

/** What happens to contacts, in the order JabberKit reports it. */
sealed interface ContactEvent {
    /** The contact list changed: read [JabberKit.roster] again. */
    data object RosterChanged : ContactEvent

    /** [from] asks to see our presence: answer with [JabberKit.approve] or [JabberKit.deny]. */
    data class SubscriptionRequest(val from: String) : ContactEvent

    /** [from]'s availability changed; a null [show] means offline. */
    data class Presence(val from: String, val show: Show?, val status: String?) : ContactEvent

    /** [from]'s chat state changed. */
    data class Typing(val from: String, val state: TypingState) : ContactEvent
}

/**
 * What happens in group chat rooms (XEP-0045), in the order JabberKit reports it. A room's
 * messages arrive on [JabberKit.messages] like any other: their conversation is the room's bare
 * JID, and [Message.roomNick] says who said it.
 */
sealed interface RoomEvent {
    /** The room's bare JID. */
    val room: String

    /** We are in [room] as [nick] (after [JabberKit.joinRoom] or [JabberKit.createRoom], and again after each new session). */
    data class Joined(override val room: String, val nick: String) : RoomEvent

    /**
     * [room] refused us (a missing or wrong password, a ban, a nickname in use…) or sent us away;
     * [text] is the room's own words, if any. It is not entered again by itself, except after
     * [RoomError.Kicked] (which only ends this visit).
     */
    data class Error(override val room: String, val error: RoomError, val text: String?) : RoomEvent

    /** Who is in [room] changed: read [JabberKit.occupants] again. */
    data class OccupantsChanged(override val room: String) : RoomEvent

    /**
     * [from] invites us to [room] (through the room, or directly): accept with
     * [JabberKit.joinRoom] and [password] as it is (the room's, when the invitation carries it;
     * it prints as `Password(<redacted>)` and compares by value), refuse with
     * [JabberKit.declineInvitation], or ignore it.
     */
    data class Invited(override val room: String, val from: String, val password: Password?, val reason: String?) :
        RoomEvent

    /** [room]'s subject changed (null: cleared), or is the one the room told us as we entered. */
    data class SubjectChanged(override val room: String, val subject: String?) : RoomEvent

    /**
     * [room] refused what we asked of it: [action] is `invite`, `decline_invitation`,
     * `set_subject`, `kick`, `ban` or `destroy_room`; [condition] the room's reason (`forbidden`,
     * `not-allowed`, `item-not-found`…); [text] its own words, if any.
     */
    data class ActionFailed(override val room: String, val action: String, val condition: String, val text: String?) :
        RoomEvent

    /** We left [room]: here ([JabberKit.leaveRoom]), or another device of the account left it. */
    data class Left(override val room: String) : RoomEvent

    /** [from] declined our invitation to [room]. */
    data class InviteDeclined(override val room: String, val from: String, val reason: String?) : RoomEvent

    /** Catching up with [room] from its archive progressed: [fetched] archived messages so far; [complete] once done. */
    data class CatchUp(override val room: String, val fetched: Int, val complete: Boolean) : RoomEvent
}

/**
 * One account, for Kotlin: the generated [Client] with its listeners turned into flows.
 *
 * Creating it opens the account's store (a few milliseconds of disk work: do it off the main
 * thread); it does not connect until [connect]. Nothing here blocks on the network.
 *
 * Close it when the account is no longer needed: [close] stops its listeners and frees the
 * native client (which ends the connection). Closing twice is harmless; any other call after
 * [close] throws [IllegalStateException].
 *
 * @param config the account; see [ClientConfig].
 * @param scope if given, the client is closed when this scope's job completes (for example a
 *   view model's scope), so an app cannot forget to.
 * @throws JabberKitException.InvalidInput for a malformed JID, an empty password or an unusable CA.
 * @throws JabberKitException.Storage if the store cannot be opened.
 * @throws JabberKitException.StoreTooNew if a newer JabberKit wrote the store (the app was downgraded).
 */
class JabberKit(config: ClientConfig, scope: CoroutineScope? = null) : AutoCloseable {
    private val client = Client(config)
    private val closed = AtomicBoolean(false)

    private val state = MutableStateFlow(client.state())
    private val stateChanges = MutableSharedFlow<ConnectionState>(replay = 1, extraBufferCapacity = UNBOUNDED)
    private val events = MutableSharedFlow<MessageEvent>(extraBufferCapacity = UNBOUNDED)
    private val contacts = MutableSharedFlow<ContactEvent>(extraBufferCapacity = UNBOUNDED)
    private val roomFlow = MutableSharedFlow<RoomEvent>(extraBufferCapacity = UNBOUNDED)
    private val pushFlow = MutableSharedFlow<PushEvent>(extraBufferCapacity = UNBOUNDED)

    /**
     * The connection state for a UI: the current value at once, then the latest one. Like every
     * [StateFlow], a slow collector may skip states in between; use [connectionStateChanges] to
     * see every one. It follows the native state from a JabberKit thread, a moment later: right
     * after [disconnect] returns it may still read [ConnectionState.Online].
     */
    val connectionState: StateFlow<ConnectionState> = state.asStateFlow()

    /** Every connection state change, in order, starting with the latest one. */
    val connectionStateChanges: SharedFlow<ConnectionState> = stateChanges.asSharedFlow()

    /**
     * Messages and their progress, in order, from the moment a collector subscribes (nothing is
     * replayed: read the store with [history] and [conversations], after subscribing, for what
     * came before — `onSubscription` is the place for it).
     */
    val messages: SharedFlow<MessageEvent> = events.asSharedFlow()

    /**
     * Roster, subscription, presence and typing events, in order, from the moment a collector
     * subscribes (nothing is replayed: read [roster] and [presences] after subscribing).
     */
    val contactEvents: SharedFlow<ContactEvent> = contacts.asSharedFlow()

    /**
     * Rooms joined, refused or left, their occupants and subjects changing, invitations, and
     * actions a room refused, in order, from the moment a collector subscribes (nothing is
     * replayed: read [rooms] and [occupants] after subscribing).
     */
    val roomEvents: SharedFlow<RoomEvent> = roomFlow.asSharedFlow()

    /** Our server's answers about push notifications, in order, from the moment a collector subscribes. */
    val pushEvents: SharedFlow<PushEvent> = pushFlow.asSharedFlow()

    /** The account's bare JID. */
    val jid: String = client.jid()

    private val stateHandle: TaskHandle = client.observeConnectionState(StateForwarder(state, stateChanges))
    private val messageHandle: TaskHandle = client.observeMessages(MessageForwarder(events))
    private val contactHandle: TaskHandle = client.observeContacts(ContactForwarder(contacts))
    private val roomHandle: TaskHandle = client.observeRooms(RoomForwarder(roomFlow))
    private val pushHandle: TaskHandle = client.observePush(PushForwarder(pushFlow))

    // Last: on a scope that is already over, this closes at once, so everything above must exist.
    private val scopeHandle: DisposableHandle? =
        scope?.coroutineContext?.get(Job)?.invokeOnCompletion { close() }

    /**
     * Starts connecting in the background and returns at once; follow [connectionState]. Also
     * how to retry after [ConnectionState.Failed].
     *
     * @throws JabberKitException.InvalidInput for an unusable server address or CA.
     */
    fun connect() = client.connect()

    /** Closes the connection cleanly and waits until it is closed (a few seconds at most). Queued messages stay queued for the next [connect]. */
    suspend fun disconnect() = client.disconnect()

    /**
     * Stores a message to [to] (a bare JID), queues it and returns its id. The message survives
     * an app kill once this returns; it goes out as soon as the account is online, and its
     * progress arrives on [messages]. Runs on [Dispatchers.IO] (one SQLite write).
     *
     * [to] may be a room joined with [joinRoom] (the message is [DeliveryState.DELIVERED] once
     * the room sent it back to everyone) or an occupant, `room@service/nick` (a private message).
     *
     * @throws JabberKitException.InvalidInput for a malformed JID or an empty, oversized or unsendable body.
     */
    suspend fun send(to: String, body: String): String =
        withContext(Dispatchers.IO) { client.sendMessage(to, body) }

    /**
     * Stores the file at [path] for [to] (like [send]) and returns its message at once, `QUEUED`,
     * its `attachment` naming the file. It is uploaded to the account's server (XEP-0363) when
     * online, reported as [MessageEvent.Transfer] on [messages]; [MessageEvent.Updated] then
     * brings its link, and it goes out like any message. The file must stay at [path] until the
     * message is `ACKED` (copy a shared content URI into the app's storage first). [mimeType] is
     * guessed from the name's extension when null. Runs on [Dispatchers.IO].
     *
     * @throws JabberKitException.InvalidInput for a bad recipient or a path that is not a
     *   readable, non-empty file.
     */
    suspend fun sendFile(to: String, path: String, mimeType: String? = null): Message =
        withContext(Dispatchers.IO) { client.sendFile(to, path, mimeType) }

    /**
     * Downloads message [id]'s file into the directory [dir] and returns at once: progress comes as
     * [MessageEvent.Transfer] on [messages], the end as [MessageEvent.Updated] (its attachment's
     * `localPath` is the file) or [MessageEvent.DownloadFailed]. HTTPS only, at most 1 GiB; the
     * file gets the attachment's name (`name (1).ext` when taken).
     *
     * @throws JabberKitException.InvalidInput for a message without a file link, one being
     *   downloaded already, or a [dir] that is not a directory.
     */
    suspend fun download(id: String, dir: String) =
        withContext(Dispatchers.IO) { client.download(id, dir) }

    /**
     * Up to [limit] messages exchanged with [with] (a contact, a room, or an occupant for private
     * messages), older than the message [before] (the newest when null), oldest first.
     */
    suspend fun history(with: String, before: String? = null, limit: Int = 50): List<Message> {
        require(limit >= 0) { "limit must not be negative, got $limit" }
        return withContext(Dispatchers.IO) { client.history(with, before, limit.toUInt()) }
    }

    /** One entry per conversation, the most recently active first. */
    suspend fun conversations(): List<Conversation> =
        withContext(Dispatchers.IO) { client.conversations() }

    /** Messages containing every word of [query] (the last as a prefix), best match first; any text is valid. */
    suspend fun search(query: String, limit: Int = 50): List<SearchHit> {
        require(limit >= 0) { "limit must not be negative, got $limit" }
        return withContext(Dispatchers.IO) { client.search(query, limit.toUInt()) }
    }

    /**
     * Marks the conversation with [with] read; returns how many messages were unread. If any
     * were, the peer sees its messages read and our other devices mark the conversation read too.
     */
    suspend fun markRead(with: String): Int =
        withContext(Dispatchers.IO) { client.markRead(with).toInt() }

    /**
     * Corrects our last message [id] in its conversation to [body]; returns it updated. The
     * correction reaches the peer and our other devices like a message (it survives an app kill).
     *
     * @throws JabberKitException.InvalidInput if [id] is not our last message there, or for a bad body.
     */
    suspend fun correct(id: String, body: String): Message =
        withContext(Dispatchers.IO) { client.correct(id, body) }

    /**
     * Sends our failed message [id] again (a "retry" tap): it is queued like a new one, keeps its
     * id (a peer that got it after all sees it once) and its place; [MessageEvent.StateChanged] follows it.
     *
     * @throws JabberKitException.InvalidInput if it is not our failed message.
     */
    suspend fun retry(id: String): Message = withContext(Dispatchers.IO) { client.retry(id) }

    /**
     * Tells JabberKit the app moved to the foreground (true) or the background (false): in the
     * background the server holds back what can wait (presence updates), saving battery. Call
     * it from the lifecycle callbacks; returns at once and is remembered across reconnects.
     */
    fun setForeground(active: Boolean) = client.setForeground(active)

    /** The contact list as last stored (also before connecting); [ContactEvent.RosterChanged] says when to re-read it. */
    suspend fun roster(): List<Contact> = withContext(Dispatchers.IO) { client.roster() }

    /**
     * Adds (or renames) [jid] and asks to see its presence. Needs the account online.
     *
     * @throws JabberKitException.NotConnected when offline.
     */
    suspend fun addContact(jid: String, name: String? = null) =
        withContext(Dispatchers.IO) { client.addContact(jid, name) }

    /** Renames [jid] and sets its [groups] (both replace what was there), without asking permission again. Needs the account online. */
    suspend fun updateContact(jid: String, name: String?, groups: List<String>) =
        withContext(Dispatchers.IO) { client.updateContact(jid, name, groups) }

    /** Lets [jid] see our presence, and asks to see theirs. Needs the account online. */
    suspend fun approve(jid: String) = withContext(Dispatchers.IO) { client.approve(jid) }

    /** Refuses (or revokes) [jid]'s permission to see our presence. Needs the account online. */
    suspend fun deny(jid: String) = withContext(Dispatchers.IO) { client.deny(jid) }

    /** Removes [jid] from the contact list; the server cancels the subscriptions both ways. Needs the account online. */
    suspend fun removeContact(jid: String) = withContext(Dispatchers.IO) { client.removeContact(jid) }

    /** Sets our availability and status text; remembered for the next connection while offline. */
    suspend fun setPresence(show: Show, status: String? = null) =
        withContext(Dispatchers.IO) { client.setPresence(show, status) }

    /** Every contact known to be available. */
    suspend fun presences(): List<ContactPresence> = withContext(Dispatchers.IO) { client.presences() }

    /**
     * Asks the account's server to notify the app server [service] (a JID, from the app's push
     * registration with it) at [node] while this device is not connected, with [secret] in every
     * notification if the app server gave one. Stored: enabled again on every fresh session, at
     * once if online; a registration it replaces is disabled. Answers arrive on [pushEvents].
     *
     * @throws JabberKitException.InvalidInput for a [service] that is not a JID or an empty [node].
     */
    suspend fun enablePush(service: String, node: String, secret: Password? = null) =
        withContext(Dispatchers.IO) { client.enablePush(service, node, secret) }

    /** Stops push notifications to this device (at once if online, else on the next fresh session). */
    suspend fun disablePush() = withContext(Dispatchers.IO) { client.disablePush() }

    /**
     * Changes the account's password on its server (XEP-0077). Once the server confirmed, this
     * client's later logins use [new]; store it for the next [ClientConfig]. Online only; waits
     * for the server's answer (at most 30 s), off the caller's thread.
     *
     * @throws AccountException.NotConnected unless online; [AccountException.Refused] with the
     *   server's reason; [AccountException.Unknown] if the connection was lost or no answer came
     *   (the change may have happened); [AccountException.InvalidInput] for an empty password.
     */
    suspend fun changePassword(new: Password) = client.changePassword(new)

    /**
     * Removes the account from its server for good (XEP-0077; app stores require an app that
     * creates accounts to offer this). The session then ends ([ConnectionState.Disconnected]);
     * the local store stays for the app to delete. Online only; throws as [changePassword].
     */
    suspend fun deleteAccount() = client.deleteAccount()

    /**
     * Enters [room] (`room@conference.example.org`) as [nick], with its [password] if it has one.
     * Returns once the room is remembered (one SQLite write, on [Dispatchers.IO]); the outcome
     * arrives on [roomEvents] as [RoomEvent.Joined] or [RoomEvent.Error]. The room is entered
     * again on every new session until [leaveRoom] or a refusal; offline, once online.
     *
     * @throws JabberKitException.InvalidInput for a malformed room JID or nickname.
     */
    suspend fun joinRoom(room: String, nick: String, password: Password? = null) =
        withContext(Dispatchers.IO) { client.joinRoom(room, nick, password) }

    /**
     * Creates [room] and enters it as [nick], its owner, set up as [config] says; otherwise like
     * [joinRoom]. If the room exists already, this joins it (with the config's password) and
     * changes nothing.
     */
    suspend fun createRoom(room: String, nick: String, config: RoomConfig = RoomConfig()) =
        withContext(Dispatchers.IO) { client.createRoom(room, nick, config) }

    /** Leaves [room] and stops entering it on new sessions; its messages stay in the store. */
    suspend fun leaveRoom(room: String) = withContext(Dispatchers.IO) { client.leaveRoom(room) }

    /** The rooms this account knows: those it is in, entering, or left ([Room.autojoin] false). */
    suspend fun rooms(): List<Room> = withContext(Dispatchers.IO) { client.rooms() }

    /**
     * Who is in [room] (ourselves included, as [Room.nick]), by nickname, as last seen;
     * [RoomEvent.OccupantsChanged] says when to read it again, or let [occupantList] follow it.
     */
    suspend fun occupants(room: String): List<Occupant> = withContext(Dispatchers.IO) { client.occupants(room) }

    /**
     * Who is in [room], kept by the core: a flow of the occupants by nickname (ourselves
     * included), re-emitted after each batch of changes (joins, leaves, nick changes, kicks,
     * bans); empty once we leave or are sent away. Each collection follows its own list; nothing
     * is re-read from the store here. See [occupantListDiffs] for the changes.
     *
     * The flow fails with [JabberKitException.InvalidInput] if [room] is not a room's bare JID.
     */
    fun occupantList(room: String): Flow<List<Occupant>> = occupantListDiffs(room).applied(OccupantListDiff::applyTo)

    /**
     * [room]'s occupant list's changes, in batches: the first holds an [OccupantListDiff.Reset]
     * with the occupants as last seen. For adapters that animate arrivals and departures.
     */
    fun occupantListDiffs(room: String): Flow<List<OccupantListDiff>> = callbackFlow {
        val handle = client.observeOccupantList(room, object : OccupantListListener {
            override fun onDiffs(diffs: List<OccupantListDiff>) {
                trySend(diffs)
            }
        })
        awaitClose { handle.close() }
    }.buffer(Channel.UNLIMITED)

    // Acting on a room: each call needs the account online (nothing is queued) and returns at
    // once; the room's refusal arrives on [roomEvents] as [RoomEvent.ActionFailed], its success as
    // what the room tells everyone.

    /**
     * Invites [jid] (a bare JID) to [room] through the room, which adds its password (in a
     * members-only room, an owner's invitation makes [jid] a member). They get [RoomEvent.Invited].
     *
     * @throws JabberKitException.NotConnected when offline.
     * @throws JabberKitException.InvalidInput for a malformed room or JID, or an unsendable reason.
     */
    suspend fun invite(room: String, jid: String, reason: String? = null) =
        withContext(Dispatchers.IO) { client.invite(room, jid, reason) }

    /** Invites [jid] to [room] directly (XEP-0249): from us, with the room's password. Needs the account online. */
    suspend fun inviteDirect(room: String, jid: String, reason: String? = null) =
        withContext(Dispatchers.IO) { client.inviteDirect(room, jid, reason) }

    /** Tells [from] (as [RoomEvent.Invited] named them) through [room] that we will not join. Needs the account online. */
    suspend fun declineInvitation(room: String, from: String, reason: String? = null) =
        withContext(Dispatchers.IO) { client.declineInvitation(room, from, reason) }

    /**
     * Sets [room]'s subject (empty: clears it); everyone in it, us included, gets
     * [RoomEvent.SubjectChanged]. Moderators only, unless the room lets everyone. Needs the
     * account online.
     */
    suspend fun setSubject(room: String, subject: String) =
        withContext(Dispatchers.IO) { client.setSubject(room, subject) }

    /** Sends the occupant [nick] out of [room]: they get [RoomError.Kicked] and may come back. Moderators only; needs the account online. */
    suspend fun kick(room: String, nick: String, reason: String? = null) =
        withContext(Dispatchers.IO) { client.kick(room, nick, reason) }

    /** Bans the account [jid] (a bare JID) from [room]: sent out now ([RoomError.Banned]), refused later. Admins and owners only; needs the account online. */
    suspend fun ban(room: String, jid: String, reason: String? = null) =
        withContext(Dispatchers.IO) { client.ban(room, jid, reason) }

    /** Destroys [room]: everyone in it is sent away, we too ([RoomError.Destroyed] with [reason]). Owners only; needs the account online. */
    suspend fun destroyRoom(room: String, reason: String? = null) =
        withContext(Dispatchers.IO) { client.destroyRoom(room, reason) }

    /**
     * The conversation list, kept by the core: a flow of the whole list, re-emitted after each
     * batch of changes (messages stored, sent, corrected, read). Each collection follows its own
     * list; nothing is re-read from the store here. See [conversationListDiffs] for the changes.
     */
    fun conversationList(): Flow<List<Conversation>> = conversationListDiffs().applied(ConversationListDiff::applyTo)

    /**
     * The conversation list's changes, in batches: the first holds a [ConversationListDiff.Reset]
     * with the whole list. For adapters that animate insertions and moves.
     */
    fun conversationListDiffs(): Flow<List<ConversationListDiff>> = callbackFlow {
        val handle = client.observeConversationList(object : ConversationListListener {
            override fun onDiffs(diffs: List<ConversationListDiff>) {
                trySend(diffs)
            }
        })
        awaitClose { handle.close() }
    }.buffer(Channel.UNLIMITED)

    /**
     * The conversation with [with] (a bare JID) as a [Timeline] kept by the core: its newest
     * [page] messages at first, then every change; older pages with [Timeline.paginateBack].
     *
     * @throws JabberKitException.InvalidInput for a malformed JID.
     */
    fun timeline(with: String, page: Int = 50): Timeline {
        require(page > 0) { "page must be positive, got $page" }
        return Timeline(client, with, page)
    }

    /** Tells [with] our chat state (sent only while online, never stored); returns at once. */
    fun setTyping(with: String, state: TypingState) = client.setTyping(with, state)

    /** Reports the device's network: false stops connection attempts, any report retries at once. Call it on every change. */
    fun networkAvailable(available: Boolean) = client.networkAvailable(available)

    /**
     * The DNS servers of the network the device is on now (`LinkProperties.getDnsServers()`,
     * as IP strings; empty: the system's), for the SRV lookups of the next connection attempts.
     * Call it on every network change, before [networkAvailable]. Returns at once.
     *
     * @throws JabberKitException.InvalidInput for an entry that is not an IP address.
     */
    fun setDnsServers(servers: List<String>) = client.setDnsServers(servers)

    /** Stops the listeners and frees the native client, which ends the connection. Idempotent. */
    override fun close() {
        if (!closed.compareAndSet(false, true)) return
        scopeHandle?.dispose()
        stateHandle.close()
        messageHandle.close()
        contactHandle.close()
        roomHandle.close()
        pushHandle.close()
        client.close()
    }

    // The listeners run on a JabberKit thread, one call at a time and in order. They only hand
    // the value over: the buffers are unbounded, so the Rust side never waits on Kotlin. They
    // hold the flows, not the JabberKit, so one that an app forgot to close can still be
    // garbage-collected (uniffi's cleaner then frees the native client and handles).

    private class PushForwarder(private val events: MutableSharedFlow<PushEvent>) : PushListener {
        override fun onPushChanged(service: String, node: String, enabled: Boolean, refused: String?) {
            events.tryEmit(PushEvent(service, node, enabled, refused))
        }
    }

    private class StateForwarder(
        private val state: MutableStateFlow<ConnectionState>,
        private val changes: MutableSharedFlow<ConnectionState>,
    ) : ConnectionStateListener {
        override fun onState(state: ConnectionState) {
            this.state.value = state
            changes.tryEmit(state)
        }
    }

    private class MessageForwarder(private val events: MutableSharedFlow<MessageEvent>) : MessageListener {
        override fun onMessage(message: Message) {
            events.tryEmit(MessageEvent.New(message))
        }

        override fun onMessageState(id: String, conversation: String, state: DeliveryState) {
            events.tryEmit(MessageEvent.StateChanged(id, conversation, state))
        }

        override fun onCatchUp(fetched: UInt, complete: Boolean) {
            events.tryEmit(MessageEvent.CatchUp(fetched.toInt(), complete))
        }

        override fun onMessageCorrected(message: Message) {
            events.tryEmit(MessageEvent.Corrected(message))
        }

        override fun onConversationRead(with: String) {
            events.tryEmit(MessageEvent.ConversationRead(with))
        }

        override fun onMessageUpdated(message: Message) {
            events.tryEmit(MessageEvent.Updated(message))
        }

        override fun onTransfer(id: String, conversation: String, done: ULong, total: ULong?) {
            events.tryEmit(MessageEvent.Transfer(id, conversation, done.toLong(), total?.toLong()))
        }

        override fun onDownloadFailed(id: String, conversation: String, reason: String) {
            events.tryEmit(MessageEvent.DownloadFailed(id, conversation, reason))
        }
    }

    private class ContactForwarder(private val events: MutableSharedFlow<ContactEvent>) : ContactListener {
        override fun onRosterChanged() {
            events.tryEmit(ContactEvent.RosterChanged)
        }

        override fun onSubscriptionRequest(from: String) {
            events.tryEmit(ContactEvent.SubscriptionRequest(from))
        }

        override fun onPresence(from: String, show: Show?, status: String?) {
            events.tryEmit(ContactEvent.Presence(from, show, status))
        }

        override fun onTyping(from: String, state: TypingState) {
            events.tryEmit(ContactEvent.Typing(from, state))
        }
    }

    private class RoomForwarder(private val events: MutableSharedFlow<RoomEvent>) : RoomListener {
        override fun onRoomJoined(room: String, nick: String) {
            events.tryEmit(RoomEvent.Joined(room, nick))
        }

        override fun onRoomError(room: String, error: RoomError, text: String?) {
            events.tryEmit(RoomEvent.Error(room, error, text))
        }

        override fun onOccupantsChanged(room: String) {
            events.tryEmit(RoomEvent.OccupantsChanged(room))
        }

        override fun onRoomInvite(room: String, from: String, password: Password?, reason: String?) {
            events.tryEmit(RoomEvent.Invited(room, from, password, reason))
        }

        override fun onRoomSubject(room: String, subject: String?) {
            events.tryEmit(RoomEvent.SubjectChanged(room, subject))
        }

        override fun onRoomActionFailed(room: String, action: String, condition: String, text: String?) {
            events.tryEmit(RoomEvent.ActionFailed(room, action, condition, text))
        }

        override fun onRoomLeft(room: String) {
            events.tryEmit(RoomEvent.Left(room))
        }

        override fun onRoomInviteDeclined(room: String, from: String, reason: String?) {
            events.tryEmit(RoomEvent.InviteDeclined(room, from, reason))
        }

        override fun onRoomCatchUp(room: String, fetched: UInt, complete: Boolean) {
            events.tryEmit(RoomEvent.CatchUp(room, fetched.toInt(), complete))
        }
    }

    companion object {
        /** A [MutableSharedFlow] buffer this large never fills, so `tryEmit` always succeeds. */
        private const val UNBOUNDED = Int.MAX_VALUE

        /**
         * Routes JabberKit's logs to logcat (tag `JabberKit`; stderr on the desktop JVM) at [level].
         * Loads the native library on first use: call it off the main thread. Safe to call again.
         */
        suspend fun enableLogging(level: LogLevel = LogLevel.INFO) =
            withContext(Dispatchers.IO) { initLogging(level) }

        /**
         * Creates the account of [config] (its JID's user part, its password) on its server
         * (XEP-0077), over one verified TLS connection; then a [JabberKit] with the same config
         * logs in. Does not retry; never blocks the calling thread.
         *
         * @throws SignUpException.UsernameTaken, [SignUpException.Refused] (the server's rules),
         *   [SignUpException.NotOffered] (closed, or asks for more: show its instructions or url),
         *   [SignUpException.TooSoon], [SignUpException.Certificate], [SignUpException.Network],
         *   [SignUpException.InvalidInput].
         */
        suspend fun signUp(config: ClientConfig) = withContext(Dispatchers.IO) { org.jabberkit.signUp(config) }
    }
}
