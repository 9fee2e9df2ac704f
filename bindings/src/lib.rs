//! # jabberkit-ffi
//!
//! The JabberKit core for Kotlin and Swift, through uniffi. Thin on purpose:
//! each exported type wraps a core type and converts with `From`; no XMPP
//! library type crosses the boundary, and no logic lives here that the core
//! does not already own.
//!
//! Threading contract for the apps:
//! - Synchronous methods return in microseconds to a few milliseconds (at
//!   most one SQLite write): safe on a UI thread.
//! - `async` methods run on JabberKit's own runtime; cancelling the calling
//!   coroutine/Task does not cancel the work (use `disconnect`).
//! - Listeners are called on a JabberKit background thread, one call at a
//!   time per listener, in order, never while JabberKit holds a lock. Keep
//!   them short, or hop to the UI thread yourself.

mod account;
mod lists;
mod logging;
mod push;
mod signup;
mod types;

use std::sync::{Arc, LazyLock, Mutex};

use tokio::runtime::Runtime;
use tokio::task::AbortHandle;

pub use account::AccountError;
pub use lists::{
    ConversationListDiff, ConversationListListener, OccupantListDiff, OccupantListListener,
    TimelineDiff, TimelineHandle, TimelineListener,
};
pub use logging::{init_logging, LogLevel};
pub use push::PushListener;
pub use types::{
    ClientConfig, ConnectionState, Contact, ContactPresence, Conversation, DeliveryState,
    FailureReason, JabberKitError, Message, Occupant, Password, Room, RoomConfig, RoomError,
    SearchHit, Show, Subscription, TlsMode, TypingState,
};

uniffi::setup_scaffolding!();

/// The one runtime every JabberKit task runs on, built on first use.
static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("jabberkit")
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("JabberKit cannot start its runtime (threads exhausted?): {e}"))
});

/// Receives connection state changes.
#[uniffi::export(with_foreign)]
pub trait ConnectionStateListener: Send + Sync {
    /// The current state right after registration, then every change.
    fn on_state(&self, state: ConnectionState);
}

/// Receives messages and their progress.
#[uniffi::export(with_foreign)]
pub trait MessageListener: Send + Sync {
    /// A message was stored: a new incoming one (once, ever), or an outgoing
    /// one that `send_message` just queued.
    fn on_message(&self, message: Message);
    /// An outgoing message of the conversation with `conversation` moved
    /// on (sent, acked, delivered, read, failed).
    fn on_message_state(&self, id: String, conversation: String, state: DeliveryState);
    /// A stored message's body was corrected by its sender (same id; update
    /// it in place).
    fn on_message_corrected(&self, message: Message);
    /// The conversation with `with` was marked read (by `mark_read`, or
    /// on another device of the account): its unread count is now 0.
    fn on_conversation_read(&self, with: String);
    /// Catching up from the server's archive after a fresh login progressed:
    /// `fetched` archived stanzas so far; `complete` once it is done.
    fn on_catch_up(&self, fetched: u32, complete: bool);
    /// A stored message changed in place (same id), other than by a
    /// correction: our file finished uploading, so the message now has its
    /// link (also its body). Replace the message you show.
    fn on_message_updated(&self, message: Message);
    /// Our upload of message `id`'s file, or a `download` of it, moved on:
    /// `done` of `total` bytes (`total` null when unknown). At most about a
    /// hundred per file. A finished download arrives as
    /// `on_message_updated` (its attachment's `local_path` is the file).
    fn on_transfer(&self, id: String, conversation: String, done: u64, total: Option<u64>);
    /// `download` of message `id`'s file failed for good (after its
    /// retries); nothing was kept. It may be called again.
    fn on_download_failed(&self, id: String, conversation: String, reason: String);
}

/// Receives contact list, presence and typing events.
#[uniffi::export(with_foreign)]
pub trait ContactListener: Send + Sync {
    /// The contact list changed: read `roster()` again.
    fn on_roster_changed(&self);
    /// `from` asks to see our presence: answer with `approve` or `deny`.
    fn on_subscription_request(&self, from: String);
    /// A contact's availability changed; `show` null means offline.
    fn on_presence(&self, from: String, show: Option<Show>, status: Option<String>);
    /// A contact's chat state changed.
    fn on_typing(&self, from: String, state: TypingState);
}

/// Receives group chat events (XEP-0045). A room's messages arrive on
/// `MessageListener` like any other (their conversation is the room).
#[uniffi::export(with_foreign)]
pub trait RoomListener: Send + Sync {
    /// We are in `room` as `nick` (after `join_room` or `create_room`, and
    /// again after each new session).
    fn on_room_joined(&self, room: String, nick: String);
    /// `room` refused us or sent us away; `text` is the room's own words,
    /// if any. It is not entered again automatically, except after a kick
    /// (which only ends this visit).
    fn on_room_error(&self, room: String, error: RoomError, text: Option<String>);
    /// Who is in `room` changed: read `occupants(room)` again (or let
    /// `observe_occupant_list` apply the change).
    fn on_occupants_changed(&self, room: String);
    /// `from` invites us to `room` (through the room, or directly);
    /// `password` is the room's when the invitation carries it: pass it to
    /// `join_room` as it is. Accept with `join_room`, refuse with
    /// `decline_invitation(room, from, …)`, or ignore it.
    fn on_room_invite(
        &self,
        room: String,
        from: String,
        password: Option<Arc<Password>>,
        reason: Option<String>,
    );
    /// `room`'s subject changed (null: cleared), or is the one the room
    /// told us as we entered.
    fn on_room_subject(&self, room: String, subject: Option<String>);
    /// `room` refused what we asked of it: `action` is `invite`,
    /// `decline_invitation`, `set_subject`, `kick`, `ban` or
    /// `destroy_room`; `condition` the room's reason
    /// (`forbidden`, `not-allowed`, `item-not-found`…); `text` its own
    /// words, if any.
    fn on_room_action_failed(
        &self,
        room: String,
        action: String,
        condition: String,
        text: Option<String>,
    );
    /// We left `room`: here (`leave_room`), or because another device of
    /// the account left it (its bookmark says so).
    fn on_room_left(&self, room: String);
    /// `from` declined our invitation to `room`.
    fn on_room_invite_declined(&self, room: String, from: String, reason: Option<String>);
    /// Catching up with `room` from its archive progressed: `fetched`
    /// archived messages so far (copies of stored ones included);
    /// `complete` once nothing more is to come.
    fn on_room_catch_up(&self, room: String, fetched: u32, complete: bool);
}

/// Keeps a listener registered. `cancel()` (or `close()`/`deinit`) stops it.
#[derive(uniffi::Object)]
pub struct TaskHandle {
    task: Mutex<Option<AbortHandle>>,
}

#[uniffi::export]
impl TaskHandle {
    /// Stops the listener; no call reaches it afterwards. Idempotent.
    pub fn cancel(&self) {
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            task.abort();
        }
    }
}

impl Drop for TaskHandle {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// One account: connection, store, events. See the core's `Client`.
#[derive(uniffi::Object)]
pub struct Client {
    inner: jabberkit::Client,
}

#[uniffi::export(async_runtime = "tokio")]
impl Client {
    /// Opens (or creates) the account's store; does not connect.
    #[uniffi::constructor]
    pub fn new(config: ClientConfig) -> Result<Arc<Self>, JabberKitError> {
        let _runtime = RUNTIME.enter();
        let inner = jabberkit::Client::new(config.into())?;
        Ok(Arc::new(Self { inner }))
    }

    /// The account's bare JID.
    pub fn jid(&self) -> String {
        self.inner.jid()
    }

    /// Starts connecting in the background; returns at once.
    pub fn connect(&self) -> Result<(), JabberKitError> {
        let _runtime = RUNTIME.enter();
        Ok(self.inner.connect()?)
    }

    /// Closes the connection cleanly; queued messages stay for the next connect.
    pub async fn disconnect(&self) {
        let inner = self.inner.clone();
        let _ = RUNTIME.spawn(async move { inner.disconnect().await }).await;
    }

    /// Stores and queues a message; returns its id at once, even offline.
    /// `to` is a contact's bare JID, a room joined with `join_room` (the
    /// message is `Delivered` once the room sent it back to everyone), or
    /// an occupant, `room@service/nick` (a private message).
    pub fn send_message(&self, to: String, body: String) -> Result<String, JabberKitError> {
        Ok(self.inner.send(&to, &body)?)
    }

    /// Stores and queues the file at `path` for `to` (like `send_message`)
    /// and returns its message at once, `Queued`, its `attachment` naming
    /// the file. It is uploaded to our server (XEP-0363) when online, with
    /// `on_transfer` reports; `on_message_updated` then brings its link,
    /// and it goes out like any message. The file must stay at `path`
    /// until the message is `Acked`. `mime_type` is guessed from the
    /// name's extension when null.
    pub fn send_file(
        &self,
        to: String,
        path: String,
        mime_type: Option<String>,
    ) -> Result<Message, JabberKitError> {
        Ok(self
            .inner
            .send_file(&to, &path, mime_type.as_deref())?
            .into())
    }

    /// Downloads message `id`'s file into the directory `dir`; returns at
    /// once. Progress comes as `on_transfer`, the end as
    /// `on_message_updated` (its attachment's `local_path` is the file) or
    /// `on_download_failed`. HTTPS only, at most 1 GiB; the file gets the
    /// attachment's name (`name (1).ext` when taken), written as
    /// `NAME.part` until complete.
    pub fn download(&self, id: String, dir: String) -> Result<(), JabberKitError> {
        Ok(self.inner.download(&id, &dir)?)
    }

    /// Up to `limit` messages with `with` (a peer, a room, or an occupant
    /// for private messages), older than message `before`, oldest first.
    pub fn history(
        &self,
        with: String,
        before: Option<String>,
        limit: u32,
    ) -> Result<Vec<Message>, JabberKitError> {
        let messages = self.inner.history(&with, before.as_deref(), limit)?;
        Ok(messages.into_iter().map(Message::from).collect())
    }

    /// One entry per conversation, most recent first.
    pub fn conversations(&self) -> Result<Vec<Conversation>, JabberKitError> {
        Ok(self
            .inner
            .conversations()?
            .into_iter()
            .map(Conversation::from)
            .collect())
    }

    /// Messages containing every word of `query`, best first (any text is valid).
    pub fn search(&self, query: String, limit: u32) -> Result<Vec<SearchHit>, JabberKitError> {
        Ok(self
            .inner
            .search(&query, limit)?
            .into_iter()
            .map(SearchHit::from)
            .collect())
    }

    /// Marks the conversation read and tells the peer and our other
    /// devices (read marker); returns how many messages were unread.
    pub fn mark_read(&self, with: String) -> Result<u32, JabberKitError> {
        Ok(self.inner.mark_read(&with)?)
    }

    /// Corrects our last message in its conversation; returns it updated.
    /// InvalidInput for a message that is not our last one there.
    pub fn correct(&self, id: String, body: String) -> Result<Message, JabberKitError> {
        Ok(self.inner.correct(&id, &body)?.into())
    }

    /// Sends a failed message of ours again, with the same id; returns it
    /// queued. InvalidInput for a message that is not ours or not failed.
    pub fn retry(&self, id: String) -> Result<Message, JabberKitError> {
        Ok(self.inner.retry(&id)?.into())
    }

    /// The app moved to the foreground (`true`) or the background
    /// (`false`): in the background the server holds back what can wait.
    /// Call it from the app lifecycle; remembered across reconnects.
    pub fn set_foreground(&self, active: bool) {
        self.inner.set_foreground(active);
    }

    /// The app's network hint: `false` stops attempts; any report retries at once.
    pub fn network_available(&self, available: bool) {
        self.inner.network_available(available);
    }

    /// The DNS servers of the network the device is on now (`ip` or
    /// `ip:port`; empty: the system's), for the next SRV lookups. Call it
    /// on every network change, before `network_available`. InvalidInput
    /// for an entry that is not an IP address (the servers in use stay).
    pub fn set_dns_servers(&self, servers: Vec<String>) -> Result<(), JabberKitError> {
        Ok(self.inner.set_dns_servers(servers)?)
    }

    /// The current connection state.
    pub fn state(&self) -> ConnectionState {
        self.inner.state().into()
    }

    /// Calls `listener` with the current state, then with every change.
    pub fn observe_connection_state(
        &self,
        listener: Arc<dyn ConnectionStateListener>,
    ) -> Arc<TaskHandle> {
        self.observe(move |event| match event {
            jabberkit::Event::ConnectionState(state) => {
                let listener = listener.clone();
                Some(Box::new(move || listener.on_state(state.into())))
            }
            _ => None,
        })
    }

    /// Calls `listener` for every stored message and every state change.
    pub fn observe_messages(&self, listener: Arc<dyn MessageListener>) -> Arc<TaskHandle> {
        self.observe(move |event| -> Option<Box<dyn FnOnce() + Send>> {
            let listener = listener.clone();
            match event {
                jabberkit::Event::Message(m) => {
                    Some(Box::new(move || listener.on_message(m.into())))
                }
                jabberkit::Event::MessageState {
                    id,
                    conversation,
                    state,
                } => Some(Box::new(move || {
                    listener.on_message_state(id, conversation, state.into())
                })),
                jabberkit::Event::CatchUp { fetched, complete } => {
                    Some(Box::new(move || listener.on_catch_up(fetched, complete)))
                }
                jabberkit::Event::MessageCorrected(m) => {
                    Some(Box::new(move || listener.on_message_corrected(m.into())))
                }
                jabberkit::Event::ConversationRead { with } => {
                    Some(Box::new(move || listener.on_conversation_read(with)))
                }
                jabberkit::Event::MessageUpdated(m) => {
                    Some(Box::new(move || listener.on_message_updated(m.into())))
                }
                jabberkit::Event::Transfer {
                    id,
                    conversation,
                    progress,
                } => Some(Box::new(move || {
                    listener.on_transfer(id, conversation, progress.done, progress.total)
                })),
                jabberkit::Event::DownloadFailed {
                    id,
                    conversation,
                    reason,
                } => Some(Box::new(move || {
                    listener.on_download_failed(id, conversation, reason)
                })),
                // Contact events go to `observe_contacts`, room events
                // to `observe_rooms`.
                jabberkit::Event::ConnectionState(_)
                | jabberkit::Event::PushChanged { .. }
                | jabberkit::Event::Typing { .. }
                | jabberkit::Event::RosterChanged
                | jabberkit::Event::SubscriptionRequest { .. }
                | jabberkit::Event::Presence { .. }
                | jabberkit::Event::RoomJoined { .. }
                | jabberkit::Event::RoomError { .. }
                | jabberkit::Event::OccupantsChanged { .. }
                | jabberkit::Event::RoomInvite { .. }
                | jabberkit::Event::RoomSubject { .. }
                | jabberkit::Event::RoomActionFailed { .. }
                | jabberkit::Event::RoomLeft { .. }
                | jabberkit::Event::RoomCatchUp { .. }
                | jabberkit::Event::RoomInviteDeclined { .. } => None,
            }
        })
    }

    /// Calls `listener` with the conversation list (a reset), then with
    /// its changes as messages are stored, sent, corrected and read.
    pub fn observe_conversation_list(
        &self,
        listener: Arc<dyn ConversationListListener>,
    ) -> Arc<TaskHandle> {
        Arc::new(TaskHandle {
            task: Mutex::new(Some(lists::observe_conversation_list(
                &self.inner,
                listener,
            ))),
        })
    }

    /// Calls `listener` with the newest `page` messages of the
    /// conversation with `with` (a reset), then with its changes; older
    /// pages load with `paginate_back` on the returned handle.
    pub fn observe_timeline(
        &self,
        with: String,
        page: u32,
        listener: Arc<dyn TimelineListener>,
    ) -> Result<Arc<TimelineHandle>, JabberKitError> {
        lists::observe_timeline(&self.inner, &with, page, listener)
    }

    /// Calls `listener` for every roster, subscription, presence and typing event.
    pub fn observe_contacts(&self, listener: Arc<dyn ContactListener>) -> Arc<TaskHandle> {
        self.observe(move |event| -> Option<Call> {
            let listener = listener.clone();
            match event {
                jabberkit::Event::RosterChanged => {
                    Some(Box::new(move || listener.on_roster_changed()))
                }
                jabberkit::Event::SubscriptionRequest { from } => {
                    Some(Box::new(move || listener.on_subscription_request(from)))
                }
                jabberkit::Event::Presence { from, show, status } => Some(Box::new(move || {
                    listener.on_presence(from, show.map(Show::from), status)
                })),
                jabberkit::Event::Typing { from, state } => {
                    Some(Box::new(move || listener.on_typing(from, state.into())))
                }
                jabberkit::Event::ConnectionState(_)
                | jabberkit::Event::Message(_)
                | jabberkit::Event::MessageState { .. }
                | jabberkit::Event::MessageCorrected(_)
                | jabberkit::Event::MessageUpdated(_)
                | jabberkit::Event::Transfer { .. }
                | jabberkit::Event::DownloadFailed { .. }
                | jabberkit::Event::PushChanged { .. }
                | jabberkit::Event::ConversationRead { .. }
                | jabberkit::Event::CatchUp { .. }
                | jabberkit::Event::RoomJoined { .. }
                | jabberkit::Event::RoomError { .. }
                | jabberkit::Event::OccupantsChanged { .. }
                | jabberkit::Event::RoomInvite { .. }
                | jabberkit::Event::RoomSubject { .. }
                | jabberkit::Event::RoomActionFailed { .. }
                | jabberkit::Event::RoomLeft { .. }
                | jabberkit::Event::RoomCatchUp { .. }
                | jabberkit::Event::RoomInviteDeclined { .. } => None,
            }
        })
    }

    /// Calls `listener` for every room joined, refused or left, every
    /// change of a room's occupants or subject, every invitation we get and
    /// every action a room refused.
    pub fn observe_rooms(&self, listener: Arc<dyn RoomListener>) -> Arc<TaskHandle> {
        self.observe(move |event| -> Option<Call> {
            let listener = listener.clone();
            match event {
                jabberkit::Event::RoomJoined { room, nick } => {
                    Some(Box::new(move || listener.on_room_joined(room, nick)))
                }
                jabberkit::Event::RoomError { room, error, text } => Some(Box::new(move || {
                    listener.on_room_error(room, error.into(), text)
                })),
                jabberkit::Event::OccupantsChanged { room } => {
                    Some(Box::new(move || listener.on_occupants_changed(room)))
                }
                jabberkit::Event::RoomInvite {
                    room,
                    from,
                    password,
                    reason,
                } => {
                    let password = password.map(|p| Arc::new(Password::from(p)));
                    Some(Box::new(move || {
                        listener.on_room_invite(room, from, password, reason)
                    }))
                }
                jabberkit::Event::RoomSubject { room, subject } => {
                    Some(Box::new(move || listener.on_room_subject(room, subject)))
                }
                jabberkit::Event::RoomActionFailed {
                    room,
                    action,
                    condition,
                    text,
                } => Some(Box::new(move || {
                    listener.on_room_action_failed(room, action, condition, text)
                })),
                jabberkit::Event::RoomLeft { room } => {
                    Some(Box::new(move || listener.on_room_left(room)))
                }
                jabberkit::Event::RoomInviteDeclined { room, from, reason } => {
                    Some(Box::new(move || {
                        listener.on_room_invite_declined(room, from, reason)
                    }))
                }
                jabberkit::Event::RoomCatchUp {
                    room,
                    fetched,
                    complete,
                } => Some(Box::new(move || {
                    listener.on_room_catch_up(room, fetched, complete)
                })),
                jabberkit::Event::ConnectionState(_)
                | jabberkit::Event::Message(_)
                | jabberkit::Event::MessageState { .. }
                | jabberkit::Event::MessageCorrected(_)
                | jabberkit::Event::MessageUpdated(_)
                | jabberkit::Event::Transfer { .. }
                | jabberkit::Event::DownloadFailed { .. }
                | jabberkit::Event::PushChanged { .. }
                | jabberkit::Event::ConversationRead { .. }
                | jabberkit::Event::CatchUp { .. }
                | jabberkit::Event::RosterChanged
                | jabberkit::Event::SubscriptionRequest { .. }
                | jabberkit::Event::Presence { .. }
                | jabberkit::Event::Typing { .. } => None,
            }
        })
    }

    /// Enters `room` (`room@conference.example.org`) as `nick`, with its
    /// `password` if it has one; returns at once (one SQLite write). The
    /// outcome arrives on `observe_rooms`: joined, or a `RoomError`. The
    /// room is entered again on every new session until `leave_room` or a
    /// refusal; offline, it is entered once online. InvalidInput for a
    /// malformed room JID or nickname.
    pub fn join_room(
        &self,
        room: String,
        nick: String,
        password: Option<Arc<Password>>,
    ) -> Result<(), JabberKitError> {
        let password = password.as_deref().map(Password::expose);
        Ok(self.inner.join_room(&room, &nick, password)?)
    }

    /// Creates `room` and enters it as `nick`, its owner, set up as
    /// `config` says; like `join_room` otherwise. If the room exists
    /// already, this joins it (with `config.password`) and changes nothing.
    pub fn create_room(
        &self,
        room: String,
        nick: String,
        config: RoomConfig,
    ) -> Result<(), JabberKitError> {
        Ok(self.inner.create_room(&room, &nick, config.into())?)
    }

    /// Leaves `room` and stops entering it on new sessions; its messages
    /// stay in the store.
    pub fn leave_room(&self, room: String) -> Result<(), JabberKitError> {
        Ok(self.inner.leave_room(&room)?)
    }

    /// The rooms this account knows: those it is in, entering, or left
    /// (`autojoin` false), with whether it is in each right now.
    pub fn rooms(&self) -> Result<Vec<Room>, JabberKitError> {
        Ok(self.inner.rooms()?.into_iter().map(Room::from).collect())
    }

    /// Who is in `room`, by nickname, as last seen (kept up to date while
    /// in the room; `on_occupants_changed` says when to read again).
    pub fn occupants(&self, room: String) -> Result<Vec<Occupant>, JabberKitError> {
        Ok(self
            .inner
            .occupants(&room)?
            .into_iter()
            .map(Occupant::from)
            .collect())
    }

    /// Calls `listener` with who is in `room` (a reset, by nickname, as
    /// last seen), then with each join, leave, nick change, kick and ban;
    /// emptied when we leave or are sent away. Needs no connection.
    /// Fails with `InvalidInput` if `room` is not a room's bare JID.
    pub fn observe_occupant_list(
        &self,
        room: String,
        listener: Arc<dyn OccupantListListener>,
    ) -> Result<Arc<TaskHandle>, JabberKitError> {
        let task = lists::observe_occupant_list(&self.inner, &room, listener)?;
        Ok(Arc::new(TaskHandle {
            task: Mutex::new(Some(task)),
        }))
    }

    /// Invites `jid` (a bare JID) to `room` through the room, which adds
    /// its password (in a members-only room, an owner's invitation makes
    /// `jid` a member). Like every call acting on a room: returns at once,
    /// needs the account online (NotConnected otherwise, nothing queued),
    /// and a refusal arrives as `on_room_action_failed`.
    pub fn invite(
        &self,
        room: String,
        jid: String,
        reason: Option<String>,
    ) -> Result<(), JabberKitError> {
        Ok(self.inner.invite(&room, &jid, reason.as_deref())?)
    }

    /// Invites `jid` to `room` directly (XEP-0249): from us, with the
    /// room's password as we entered it. Needs the account online.
    pub fn invite_direct(
        &self,
        room: String,
        jid: String,
        reason: Option<String>,
    ) -> Result<(), JabberKitError> {
        Ok(self.inner.invite_direct(&room, &jid, reason.as_deref())?)
    }

    /// Tells `from` (as `on_room_invite` named them) through `room` that we
    /// will not join.
    pub fn decline_invitation(
        &self,
        room: String,
        from: String,
        reason: Option<String>,
    ) -> Result<(), JabberKitError> {
        Ok(self
            .inner
            .decline_invitation(&room, &from, reason.as_deref())?)
    }

    /// Sets `room`'s subject (empty: clears it); everyone in it, us
    /// included, gets `on_room_subject`. Moderators only, unless the room
    /// lets everyone.
    pub fn set_subject(&self, room: String, subject: String) -> Result<(), JabberKitError> {
        Ok(self.inner.set_subject(&room, &subject)?)
    }

    /// Sends the occupant `nick` out of `room` (they may come back; they
    /// get `RoomError::Kicked`). Moderators only.
    pub fn kick(
        &self,
        room: String,
        nick: String,
        reason: Option<String>,
    ) -> Result<(), JabberKitError> {
        Ok(self.inner.kick(&room, &nick, reason.as_deref())?)
    }

    /// Bans the account `jid` (a bare JID) from `room`: sent out now
    /// (`RoomError::Banned`), refused later. Admins and owners only.
    pub fn ban(
        &self,
        room: String,
        jid: String,
        reason: Option<String>,
    ) -> Result<(), JabberKitError> {
        Ok(self.inner.ban(&room, &jid, reason.as_deref())?)
    }

    /// Destroys `room`: everyone in it is sent away with `reason`, we too
    /// (`RoomError::Destroyed`). Owners only.
    pub fn destroy_room(&self, room: String, reason: Option<String>) -> Result<(), JabberKitError> {
        Ok(self.inner.destroy_room(&room, reason.as_deref())?)
    }

    /// Tells `with` our chat state (XEP-0085); sent only while online, never stored.
    pub fn set_typing(&self, with: String, state: TypingState) -> Result<(), JabberKitError> {
        Ok(self.inner.set_typing(&with, state.into())?)
    }

    /// The contact list as last stored (also before connecting).
    pub fn roster(&self) -> Result<Vec<Contact>, JabberKitError> {
        Ok(self
            .inner
            .roster()?
            .into_iter()
            .map(Contact::from)
            .collect())
    }

    /// Adds (or renames) `jid` and asks to see its presence; needs the account online.
    pub fn add_contact(&self, jid: String, name: Option<String>) -> Result<(), JabberKitError> {
        Ok(self.inner.add_contact(&jid, name.as_deref())?)
    }

    /// Renames `jid` and sets its groups (both replace what was there),
    /// without asking permission again; needs the account online.
    pub fn update_contact(
        &self,
        jid: String,
        name: Option<String>,
        groups: Vec<String>,
    ) -> Result<(), JabberKitError> {
        Ok(self.inner.update_contact(&jid, name.as_deref(), &groups)?)
    }

    /// Lets `jid` see our presence, and asks to see theirs; needs the account online.
    pub fn approve(&self, jid: String) -> Result<(), JabberKitError> {
        Ok(self.inner.approve(&jid)?)
    }

    /// Refuses (or revokes) `jid`'s permission to see our presence; needs the account online.
    pub fn deny(&self, jid: String) -> Result<(), JabberKitError> {
        Ok(self.inner.deny(&jid)?)
    }

    /// Removes `jid` from the contact list; needs the account online.
    pub fn remove_contact(&self, jid: String) -> Result<(), JabberKitError> {
        Ok(self.inner.remove_contact(&jid)?)
    }

    /// Sets our availability and status text; remembered for the next connection when offline.
    pub fn set_presence(&self, show: Show, status: Option<String>) -> Result<(), JabberKitError> {
        Ok(self.inner.set_presence(show.into(), status.as_deref())?)
    }

    /// Every contact known to be available.
    pub fn presences(&self) -> Result<Vec<ContactPresence>, JabberKitError> {
        Ok(self
            .inner
            .presences()?
            .into_iter()
            .map(ContactPresence::from)
            .collect())
    }
}

type Call = Box<dyn FnOnce() + Send>;

impl Client {
    /// Delivers the events `select` picks, one at a time and in order, on a
    /// blocking-pool thread: foreign code never runs on the async workers.
    fn observe(
        &self,
        select: impl Fn(jabberkit::Event) -> Option<Call> + Send + 'static,
    ) -> Arc<TaskHandle> {
        let mut events = self.inner.events();
        let task = RUNTIME.spawn(async move {
            while let Some(event) = events.recv().await {
                if let Some(call) = select(event) {
                    if tokio::task::spawn_blocking(call).await.is_err() {
                        tracing::error!(
                            "a JabberKit listener panicked or threw; it gets the next event anyway"
                        );
                    }
                }
            }
        });
        Arc::new(TaskHandle {
            task: Mutex::new(Some(task.abort_handle())),
        })
    }
}
