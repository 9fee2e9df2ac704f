//! The JSON-lines contract of `jabberkit agent`: what a script may write on
//! stdin ([`Command`]) and what the agent writes on stdout ([`Output`]).
//!
//! Scripts and tests depend on these shapes exactly, so they live in one
//! place, separate from the loop that moves them, with tests that pin the
//! wire format. Field order follows the struct order; timestamps are RFC 3339
//! UTC with milliseconds.

use chrono::{DateTime, SecondsFormat, Utc};
use jabberkit::{ConnectionState, DeliveryState, Direction, Event, Message, Show, TypingState};
use serde::{Deserialize, Serialize};

/// History entries returned when a `history` command gives no limit.
pub const DEFAULT_HISTORY_LIMIT: u32 = 50;

/// One line of stdin.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// `Client::send`.
    Send { to: String, body: String },
    /// `Client::history`.
    History {
        with: String,
        #[serde(default = "default_limit")]
        limit: u32,
        #[serde(default)]
        before: Option<String>,
    },
    /// `Client::conversations`.
    Conversations,
    /// `Client::search`.
    Search {
        query: String,
        #[serde(default = "default_limit")]
        limit: u32,
    },
    /// `Client::mark_read`.
    MarkRead { with: String },
    /// `Client::correct`: our last message `id` in its conversation.
    Correct { id: String, body: String },
    /// `Client::retry`: our failed message `id`, sent again.
    Retry { id: String },
    /// `Client::send_file`: the file at `path`, uploaded, then its link sent.
    SendFile {
        to: String,
        path: String,
        #[serde(default)]
        mime_type: Option<String>,
    },
    /// `Client::download`: message `id`'s file, into the directory `dir`.
    Download { id: String, dir: String },
    /// `Client::enable_push`: our server notifies `service` at `node`.
    EnablePush {
        service: String,
        node: String,
        #[serde(default)]
        secret: Option<String>,
    },
    /// `Client::disable_push`.
    DisablePush,
    /// `Client::change_password`: answered by `password_changed` or
    /// `account_error`.
    ChangePassword { password: String },
    /// `Client::delete_account`: answered by `account_deleted` or
    /// `account_error`.
    DeleteAccount,
    /// `Client::roster`.
    Roster,
    /// `Client::add_contact`: adds and asks for permission.
    AddContact {
        jid: String,
        #[serde(default)]
        name: Option<String>,
    },
    /// `Client::update_contact`: name and groups replace what was there.
    UpdateContact {
        jid: String,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        groups: Vec<String>,
    },
    /// `Client::approve`.
    Approve { jid: String },
    /// `Client::deny`.
    Deny { jid: String },
    /// `Client::remove_contact`.
    RemoveContact { jid: String },
    /// `Client::set_typing`: `state` is active, composing, paused, inactive or gone.
    Typing { to: String, state: String },
    /// `Client::set_presence`: `show` is online, away, dnd or xa.
    Presence {
        show: String,
        #[serde(default)]
        status: Option<String>,
    },
    /// `Client::state`.
    State,
    /// `Client::network_available`.
    Network { available: bool },
    /// `Client::set_foreground`: false when the app goes to the background.
    Foreground { active: bool },
    /// `Client::conversation_list`: `conversation_list` events follow,
    /// the first one a reset holding the whole list.
    WatchConversations,
    /// `Client::timeline`: `timeline` events for `with` follow, the first
    /// a reset holding its newest `page` messages.
    WatchTimeline {
        with: String,
        #[serde(default = "default_limit")]
        page: u32,
    },
    /// `Client::occupant_list`: `occupants_diff` events for `room`
    /// follow, the first a reset holding who is in it as last seen.
    WatchOccupants { room: String },
    /// Loads up to `count` older messages into the watched timeline of
    /// `with`; answered by `paginated` after their `timeline` event.
    PaginateBack {
        with: String,
        #[serde(default = "default_limit")]
        count: u32,
    },
    /// Stops watching the occupants of `room` and the timeline of `with`,
    /// or the conversation list when both are absent.
    Unwatch {
        #[serde(default)]
        with: Option<String>,
        #[serde(default)]
        room: Option<String>,
    },
    /// `Client::disconnect`, then exit.
    Quit,
    /// `Client::join_room`: answered by `room_joined` or `room_error`.
    JoinRoom {
        room: String,
        nick: String,
        #[serde(default)]
        password: Option<String>,
    },
    /// `Client::create_room`: answered by `room_joined` or `room_error`.
    CreateRoom {
        room: String,
        nick: String,
        #[serde(default)]
        password: Option<String>,
        #[serde(default)]
        members_only: bool,
        #[serde(default)]
        persistent: bool,
        #[serde(default)]
        name: Option<String>,
    },
    /// `Client::leave_room`.
    LeaveRoom { room: String },
    /// `Client::rooms`.
    Rooms,
    /// `Client::occupants`.
    Occupants { room: String },
    /// `Client::invite`: through the room, which adds its password; with
    /// `"direct": true`, `Client::invite_direct` (XEP-0249, from us).
    Invite {
        room: String,
        jid: String,
        #[serde(default)]
        reason: Option<String>,
        #[serde(default)]
        direct: bool,
    },
    /// `Client::decline_invitation`: `from` as `room_invite` named them.
    DeclineInvite {
        room: String,
        from: String,
        #[serde(default)]
        reason: Option<String>,
    },
    /// `Client::set_subject` (empty clears it): `room_subject` follows.
    SetSubject { room: String, subject: String },
    /// `Client::kick`; a refusal is `room_action_failed`.
    Kick {
        room: String,
        nick: String,
        #[serde(default)]
        reason: Option<String>,
    },
    /// `Client::ban`; a refusal is `room_action_failed`.
    Ban {
        room: String,
        jid: String,
        #[serde(default)]
        reason: Option<String>,
    },
    /// `Client::destroy_room`; a refusal is `room_action_failed`.
    DestroyRoom {
        room: String,
        #[serde(default)]
        reason: Option<String>,
    },
}

fn default_limit() -> u32 {
    DEFAULT_HISTORY_LIMIT
}

impl Command {
    /// Parses one line; the error is the text of the `error` event.
    pub fn parse(line: &str) -> Result<Command, String> {
        serde_json::from_str(line).map_err(|e| format!("invalid command: {e}"))
    }
}

/// One line of stdout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Output {
    /// The connection state (on every change, and in answer to `state`).
    State(StateJson),
    /// `--sign-up` created the account.
    SignedUp { jid: String },
    /// `--sign-up` did not: `reason` is what to do (`username_taken`,
    /// `refused`, `not_offered`, `too_soon`, `certificate`, `network`,
    /// `invalid_input`); `url`: where the server sends users instead.
    SignUpFailed {
        reason: &'static str,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// `send` stored the message; it goes out when online.
    Queued { id: String, to: String },
    /// Our upload of message `id`'s file moved on (`send_file`).
    Transfer {
        id: String,
        with: String,
        done: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        total: Option<u64>,
    },
    /// Our file is on the upload service: message `id` now carries `url`
    /// (also its body) and goes out.
    Uploaded {
        id: String,
        with: String,
        url: String,
    },
    /// `download` finished: message `id`'s file is at `path`.
    Downloaded {
        id: String,
        with: String,
        path: String,
    },
    /// Our server answered about push notifications (`enable_push`,
    /// `disable_push`, each fresh session).
    Push {
        service: String,
        node: String,
        enabled: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        refused: Option<String>,
    },
    /// `change_password` done: later logins use the new password.
    PasswordChanged,
    /// `delete_account` done: the account is gone from its server.
    AccountDeleted,
    /// `change_password` or `delete_account` did not happen (`reason`:
    /// `not_connected`, `refused`, `unknown`, `invalid_input`).
    AccountError {
        reason: &'static str,
        message: String,
    },
    /// `download` failed for good (after its retries).
    DownloadFailed {
        id: String,
        with: String,
        reason: String,
    },
    /// An outgoing message moved on.
    MessageState {
        id: String,
        with: String,
        state: &'static str,
    },
    /// An incoming message, announced once.
    Message {
        id: String,
        from: String,
        body: String,
        /// (`Box<str>`, like `to`: keeps the output small.)
        timestamp: Box<str>,
        /// Only on a message one of our other devices sent (a carbon).
        /// (`Box<str>`: keeps the output small enough to pass by value.)
        #[serde(skip_serializing_if = "Option::is_none")]
        to: Option<Box<str>>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        outgoing: bool,
        /// In a room: the room's bare JID (also `from`) and who said it.
        #[serde(flatten, skip_serializing_if = "Option::is_none")]
        in_room: Option<Box<InRoom>>,
        /// The file it carries (its link is also the body).
        #[serde(skip_serializing_if = "Option::is_none")]
        file: Option<Box<FileJson>>,
    },
    /// The answer to `history`, oldest first.
    History {
        with: String,
        messages: Vec<HistoryItem>,
    },
    /// The answer to `conversations`, most recent first.
    Conversations { items: Vec<ConversationItem> },
    /// The answer to `search`, best match first.
    Search { results: Vec<SearchResult> },
    /// The answer to `roster`.
    Roster { items: Vec<RosterItem> },
    /// A contact's chat state changed.
    Typing { from: String, state: &'static str },
    /// The contact list changed.
    RosterChanged,
    /// `from` asks to see our presence.
    SubscriptionRequest { from: String },
    /// A contact's availability changed: `show` is online, away, dnd, xa
    /// or offline; `status` is null when there is none.
    Presence {
        from: String,
        show: &'static str,
        status: Option<String>,
    },
    /// Catching up from the server's archive progressed by one page;
    /// `fetched` counts archived messages so far (copies included).
    #[serde(rename = "catchup")]
    CatchUp { fetched: u32, complete: bool },
    /// The answer to `mark_read`: how many messages were unread.
    MarkedRead { with: String, count: u32 },
    /// The answer to `correct`, and a stored message corrected by its
    /// sender (the peer, or another device of ours): same id, new body.
    MessageCorrected {
        id: String,
        with: String,
        body: String,
    },
    /// Another device of ours read the conversation with `with`.
    ConversationRead { with: String },
    /// Changes to the watched conversation list, in order.
    ConversationList { diffs: Vec<Diff<ConversationItem>> },
    /// Changes to the watched timeline of `with`, in order.
    Timeline {
        with: String,
        diffs: Vec<Diff<HistoryItem>>,
    },
    /// Changes to the watched occupants of `room`, in order.
    OccupantsDiff {
        room: String,
        diffs: Vec<Diff<crate::room_items::OccupantItem>>,
    },
    /// The answer to `paginate_back`: whether older messages remain.
    Paginated { with: String, more: bool },
    /// A command could not be parsed or the API refused it.
    Error { message: String },
    /// We are in `room` as `nick`.
    RoomJoined { room: String, nick: String },
    /// `room` refused us or sent us away: `condition` is the XMPP
    /// condition (`not-authorized`, `conflict`, `forbidden`, …; `kicked`,
    /// `gone`), `reason` our reading of it (`password-required`, …).
    RoomError {
        room: String,
        condition: String,
        reason: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// A nickname to try instead (`conflict`).
        #[serde(skip_serializing_if = "Option::is_none")]
        suggested_nick: Option<String>,
    },
    /// The answer to `rooms`.
    Rooms {
        items: Vec<crate::room_items::RoomItem>,
    },
    /// The answer to `occupants`.
    Occupants {
        room: String,
        items: Vec<crate::room_items::OccupantItem>,
    },
    /// Who is in `room` changed.
    OccupantsChanged { room: String },
    /// We are invited to `room` (join with `join_room` and `password`).
    RoomInvite {
        room: String,
        from: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        password: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// We left `room` (here, or on another device of the account).
    RoomLeft { room: String },
    /// Catching up with `room` from its archive progressed.
    #[serde(rename = "room_catchup")]
    RoomCatchUp {
        room: String,
        fetched: u32,
        complete: bool,
    },
    /// `from` declined our invitation to `room`.
    RoomInviteDeclined {
        room: String,
        from: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// `room`'s subject (absent: none).
    RoomSubject {
        room: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
    },
    /// The room refused `action` (`set_subject`, `kick`, `ban`,
    /// `destroy_room`) with `condition`.
    RoomActionFailed {
        room: String,
        action: String,
        condition: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
}

/// One change to a watched list (see `jabberkit::ListDiff`), applied in
/// order: `{"op":"insert","index":0,"item":{..}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Diff<T> {
    Reset { items: Vec<T> },
    Insert { index: u32, item: T },
    Set { index: u32, item: T },
    Remove { index: u32 },
}

impl<T> Diff<T> {
    pub fn new<U>(diff: jabberkit::ListDiff<U>, f: impl Fn(&U) -> T) -> Self {
        match diff {
            jabberkit::ListDiff::Reset { items } => Diff::Reset {
                items: items.iter().map(f).collect(),
            },
            jabberkit::ListDiff::Insert { index, item } => Diff::Insert {
                index,
                item: f(&item),
            },
            jabberkit::ListDiff::Set { index, item } => Diff::Set {
                index,
                item: f(&item),
            },
            jabberkit::ListDiff::Remove { index } => Diff::Remove { index },
        }
    }
}

/// The fields of a `state` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateJson {
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_in_ms: Option<u64>,
}

/// One message in a `history` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryItem {
    pub id: String,
    pub from: String,
    pub to: String,
    pub body: String,
    pub timestamp: String,
    pub outgoing: bool,
    pub state: &'static str,
}

/// One entry of a `conversations` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConversationItem {
    pub with: String,
    /// `chat`, `room` or `room_private`.
    pub kind: &'static str,
    pub last_body: String,
    pub last_timestamp: String,
    pub unread: u32,
}

/// One entry of a `roster` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RosterItem {
    pub jid: String,
    pub name: Option<String>,
    pub groups: Vec<String>,
    pub subscription: &'static str,
    pub ask: bool,
    pub pending_in: bool,
}

impl RosterItem {
    pub fn new(c: &jabberkit::Contact) -> Self {
        RosterItem {
            jid: c.jid.clone(),
            name: c.name.clone(),
            groups: c.groups.clone(),
            subscription: c.subscription.as_str(),
            ask: c.ask,
            pending_in: c.pending_in,
        }
    }
}

/// One entry of a `search` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchResult {
    pub id: String,
    pub with: String,
    pub body: String,
    pub snippet: String,
    pub timestamp: String,
}

impl SearchResult {
    pub fn new(hit: &jabberkit::SearchHit) -> Self {
        SearchResult {
            id: hit.message.id.clone(),
            with: hit.message.conversation.clone(),
            body: hit.message.body.clone(),
            snippet: hit.snippet.clone(),
            timestamp: timestamp(&hit.message.timestamp),
        }
    }
}

/// Where a room message was said: `room` and `nick` on its line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InRoom {
    room: String,
    nick: String,
    /// It names our nickname (see `Message::mentions_me`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    mention: bool,
}

/// A room message's room and nick: its sender is `room@service/nick`
/// and its conversation the room (a private message's conversation is
/// the occupant's full JID itself).
fn in_room(msg: &Message) -> Option<Box<InRoom>> {
    match msg.sender.split_once('/') {
        Some((room, nick)) if room == msg.conversation => Some(Box::new(InRoom {
            room: room.to_owned(),
            nick: nick.to_owned(),
            mention: msg.mentions_me,
        })),
        _ => None,
    }
}

/// Our reading of a room error, in kebab case.
fn room_reason(error: &jabberkit::RoomError) -> String {
    use jabberkit::RoomError as E;
    match error {
        E::PasswordRequired => "password-required",
        E::WrongPassword => "wrong-password",
        E::Banned => "banned",
        E::MembersOnly => "members-only",
        E::NicknameInUse { .. } => "nickname-in-use",
        E::NotFound => "not-found",
        E::Full => "full",
        E::Kicked { .. } => "kicked",
        E::Destroyed { .. } => "destroyed",
        E::Other { .. } => "other",
    }
    .to_owned()
}

/// The file a message carries, as the agent prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileJson {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
}

impl FileJson {
    fn of(msg: &Message) -> Option<Box<FileJson>> {
        let a = msg.attachment.as_ref()?;
        Some(Box::new(FileJson {
            name: a.name.clone(),
            url: a.url.clone(),
            size: a.size,
            mime_type: a.mime_type.clone(),
        }))
    }
}

impl Output {
    /// The answer to `change_password` or `delete_account`.
    pub fn account(result: Result<(), jabberkit::AccountError>, done: Output) -> Output {
        use jabberkit::AccountError as E;
        match result {
            Ok(()) => done,
            Err(e) => Output::AccountError {
                reason: match e {
                    E::NotConnected => "not_connected",
                    E::Refused { .. } => "refused",
                    E::Unknown { .. } => "unknown",
                    E::InvalidInput { .. } => "invalid_input",
                },
                message: e.to_string(),
            },
        }
    }
}

impl Output {
    /// The line to print, without the newline.
    pub fn to_line(&self) -> String {
        // Only strings, numbers and booleans inside: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(r#"{{"event":"error","message":"cannot encode output: {e}"}}"#)
        })
    }

    /// The answer to `--sign-up`.
    pub fn sign_up(jid: &str, result: Result<(), jabberkit::SignUpError>) -> Output {
        use jabberkit::SignUpError as E;
        let Err(e) = result else {
            return Output::SignedUp {
                jid: jid.to_owned(),
            };
        };
        let (reason, url) = match &e {
            E::UsernameTaken => ("username_taken", None),
            E::Refused { .. } => ("refused", None),
            E::NotOffered { url, .. } => ("not_offered", url.clone()),
            E::TooSoon { .. } => ("too_soon", None),
            E::Certificate { .. } => ("certificate", None),
            E::Network { .. } => ("network", None),
            E::InvalidInput { .. } => ("invalid_input", None),
        };
        Output::SignUpFailed {
            reason,
            message: e.to_string(),
            url,
        }
    }

    pub fn error(message: impl Into<String>) -> Output {
        Output::Error {
            message: message.into(),
        }
    }

    /// What a core event becomes on stdout, if anything: outgoing messages
    /// are already announced by `queued`, and the `queued`/`received` states
    /// say nothing new.
    pub fn from_event(event: &Event) -> Option<Output> {
        match event {
            Event::ConnectionState(state) => Some(Output::State(StateJson::from(state))),
            Event::Message(msg) if msg.direction == Direction::Incoming => Some(Output::Message {
                id: msg.id.clone(),
                from: msg.conversation.clone(),
                body: msg.body.clone(),
                timestamp: timestamp(&msg.timestamp).into(),
                to: None,
                outgoing: false,
                in_room: in_room(msg),
                file: FileJson::of(msg),
            }),
            // Our own message, not queued here: another device of ours sent it.
            Event::Message(msg) if msg.state != DeliveryState::Queued => Some(Output::Message {
                id: msg.id.clone(),
                from: msg.sender.clone(),
                body: msg.body.clone(),
                timestamp: timestamp(&msg.timestamp).into(),
                to: Some(msg.conversation.as_str().into()),
                outgoing: true,
                in_room: None,
                file: FileJson::of(msg),
            }),
            // Announced by `queued` already.
            Event::Message(_) => None,
            Event::Typing { from, state } => Some(Output::Typing {
                from: from.clone(),
                state: typing_name(*state),
            }),
            Event::RosterChanged => Some(Output::RosterChanged),
            Event::SubscriptionRequest { from } => {
                Some(Output::SubscriptionRequest { from: from.clone() })
            }
            Event::Presence { from, show, status } => Some(Output::Presence {
                from: from.clone(),
                show: show.map_or("offline", Show::as_str),
                status: status.clone(),
            }),
            Event::CatchUp { fetched, complete } => Some(Output::CatchUp {
                fetched: *fetched,
                complete: *complete,
            }),
            Event::MessageCorrected(msg) => Some(Output::corrected(msg)),
            // Our upload's end leaves the message queued; a download's end
            // changes a message that is no longer (or never was) queued.
            Event::MessageUpdated(msg)
                if msg.direction == Direction::Outgoing && msg.state == DeliveryState::Queued =>
            {
                Some(Output::Uploaded {
                    id: msg.id.clone(),
                    with: msg.conversation.clone(),
                    url: msg.attachment.as_ref()?.url.clone()?,
                })
            }
            Event::MessageUpdated(msg) => Some(Output::Downloaded {
                id: msg.id.clone(),
                with: msg.conversation.clone(),
                path: msg.attachment.as_ref()?.local_path.clone()?,
            }),
            Event::PushChanged {
                service,
                node,
                enabled,
                refused,
            } => Some(Output::Push {
                service: service.clone(),
                node: node.clone(),
                enabled: *enabled,
                refused: refused.clone(),
            }),
            Event::DownloadFailed {
                id,
                conversation,
                reason,
            } => Some(Output::DownloadFailed {
                id: id.clone(),
                with: conversation.clone(),
                reason: reason.clone(),
            }),
            Event::Transfer {
                id,
                conversation,
                progress,
            } => Some(Output::Transfer {
                id: id.clone(),
                with: conversation.clone(),
                done: progress.done,
                total: progress.total,
            }),
            Event::ConversationRead { with } => {
                Some(Output::ConversationRead { with: with.clone() })
            }
            Event::RoomJoined { room, nick } => Some(Output::RoomJoined {
                room: room.clone(),
                nick: nick.clone(),
            }),
            Event::RoomError { room, error, text } => Some(Output::RoomError {
                room: room.clone(),
                condition: error.condition().to_owned(),
                reason: room_reason(error),
                text: text.clone(),
                suggested_nick: match error {
                    jabberkit::RoomError::NicknameInUse { suggestion } => Some(suggestion.clone()),
                    _ => None,
                },
            }),
            Event::OccupantsChanged { room } => {
                Some(Output::OccupantsChanged { room: room.clone() })
            }
            Event::RoomInvite {
                room,
                from,
                password,
                reason,
            } => Some(Output::RoomInvite {
                room: room.clone(),
                from: from.clone(),
                password: password.as_ref().map(|p| p.expose().to_owned()),
                reason: reason.clone(),
            }),
            Event::RoomLeft { room } => Some(Output::RoomLeft { room: room.clone() }),
            Event::RoomCatchUp {
                room,
                fetched,
                complete,
            } => Some(Output::RoomCatchUp {
                room: room.clone(),
                fetched: *fetched,
                complete: *complete,
            }),
            Event::RoomInviteDeclined { room, from, reason } => Some(Output::RoomInviteDeclined {
                room: room.clone(),
                from: from.clone(),
                reason: reason.clone(),
            }),
            Event::RoomSubject { room, subject } => Some(Output::RoomSubject {
                room: room.clone(),
                subject: subject.clone(),
            }),
            Event::RoomActionFailed {
                room,
                action,
                condition,
                text,
            } => Some(Output::RoomActionFailed {
                room: room.clone(),
                action: action.clone(),
                condition: condition.clone(),
                text: text.clone(),
            }),
            Event::MessageState {
                id,
                conversation,
                state,
            } => match state {
                DeliveryState::Queued | DeliveryState::Received => None,
                _ => Some(Output::MessageState {
                    id: id.clone(),
                    with: conversation.clone(),
                    state: state.as_str(),
                }),
            },
        }
    }

    /// A corrected message.
    pub fn corrected(msg: &Message) -> Output {
        Output::MessageCorrected {
            id: msg.id.clone(),
            with: msg.conversation.clone(),
            body: msg.body.clone(),
        }
    }

    /// The answer to `history`.
    pub fn history(own_jid: &str, with: &str, messages: &[Message]) -> Output {
        Output::History {
            with: with.to_owned(),
            messages: messages
                .iter()
                .map(|m| HistoryItem::new(own_jid, m))
                .collect(),
        }
    }
}

impl From<&ConnectionState> for StateJson {
    fn from(state: &ConnectionState) -> Self {
        let mut json = StateJson {
            state: state_name(state),
            resumed: None,
            reason: None,
            attempt: None,
            retry_in_ms: None,
        };
        match state {
            ConnectionState::Online { resumed } => json.resumed = Some(*resumed),
            ConnectionState::Reconnecting { attempt, retry_in } => {
                json.attempt = Some(*attempt);
                json.retry_in_ms = Some(u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX));
            }
            ConnectionState::Failed { reason } => json.reason = Some(reason.to_string()),
            ConnectionState::Disconnected
            | ConnectionState::Connecting
            | ConnectionState::Suspended => {}
        }
        json
    }
}

/// The `state` field's value for a connection state.
pub fn state_name(state: &ConnectionState) -> &'static str {
    match state {
        ConnectionState::Disconnected => "disconnected",
        ConnectionState::Connecting => "connecting",
        ConnectionState::Online { .. } => "online",
        ConnectionState::Suspended => "suspended",
        ConnectionState::Reconnecting { .. } => "reconnecting",
        ConnectionState::Failed { .. } => "failed",
    }
}

impl HistoryItem {
    pub fn new(own_jid: &str, m: &Message) -> Self {
        let outgoing = m.direction == Direction::Outgoing;
        let (from, to) = if outgoing {
            (own_jid.to_owned(), m.conversation.clone())
        } else {
            (m.conversation.clone(), own_jid.to_owned())
        };
        HistoryItem {
            id: m.id.clone(),
            from,
            to,
            body: m.body.clone(),
            timestamp: timestamp(&m.timestamp),
            outgoing,
            state: m.state.as_str(),
        }
    }
}

impl ConversationItem {
    pub fn new(summary: &jabberkit::Conversation) -> Self {
        ConversationItem {
            with: summary.with.clone(),
            kind: summary.kind.as_str(),
            last_body: summary.last_message.body.clone(),
            last_timestamp: timestamp(&summary.last_message.timestamp),
            unread: summary.unread,
        }
    }
}

/// The wire name of a chat state (XEP-0085's element names).
pub fn typing_name(state: TypingState) -> &'static str {
    match state {
        TypingState::Active => "active",
        TypingState::Composing => "composing",
        TypingState::Paused => "paused",
        TypingState::Inactive => "inactive",
        TypingState::Gone => "gone",
    }
}

/// Parses a chat state name; the error is the text of the `error` event.
pub fn parse_typing(name: &str) -> Result<TypingState, String> {
    [
        TypingState::Active,
        TypingState::Composing,
        TypingState::Paused,
        TypingState::Inactive,
        TypingState::Gone,
    ]
    .into_iter()
    .find(|s| typing_name(*s) == name)
    .ok_or_else(|| {
        format!("unknown typing state {name:?}: use active, composing, paused, inactive or gone")
    })
}

/// Parses a show name (online, away, dnd, xa); the error is the text of
/// the `error` event.
pub fn parse_show(name: &str) -> Result<Show, String> {
    Show::parse(name).ok_or_else(|| format!("unknown show {name:?}: use online, away, dnd or xa"))
}

/// RFC 3339, UTC, milliseconds: `2026-11-26T10:00:00.123Z`.
pub fn timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room_items::OccupantItem;
    use chrono::TimeZone;
    use jabberkit::FailureReason;
    use serde_json::{json, Value};
    use std::time::Duration;

    fn to_json(output: &Output) -> Value {
        serde_json::from_str(&output.to_line()).expect("output is JSON")
    }

    fn message(direction: Direction, state: DeliveryState) -> Message {
        let outgoing = direction == Direction::Outgoing;
        Message {
            corrected: false,
            mentions_me: false,
            id: "m1".into(),
            conversation: "bob@example.test".into(),
            direction,
            sender: if outgoing {
                "alice@example.test"
            } else {
                "bob@example.test"
            }
            .into(),
            body: "hi \"there\"\n✓".into(),
            timestamp: Utc
                .with_ymd_and_hms(2026, 11, 26, 10, 0, 0)
                .single()
                .expect("valid date")
                + chrono::Duration::milliseconds(123),
            origin_id: None,
            stanza_id: None,
            state,
            failure_reason: None,
            attachment: None,
        }
    }

    #[test]
    fn parses_every_command() {
        let cases = [
            (
                r#"{"cmd":"send","to":"bob@example.test","body":"hi"}"#,
                Command::Send {
                    to: "bob@example.test".into(),
                    body: "hi".into(),
                },
            ),
            (
                r#"{"cmd":"history","with":"bob@example.test","limit":5}"#,
                Command::History {
                    with: "bob@example.test".into(),
                    limit: 5,
                    before: None,
                },
            ),
            (
                r#"{"cmd":"history","with":"b@x.test","limit":5,"before":"m9"}"#,
                Command::History {
                    with: "b@x.test".into(),
                    limit: 5,
                    before: Some("m9".into()),
                },
            ),
            (
                r#"{"cmd":"history","with":"b@x.test"}"#,
                Command::History {
                    with: "b@x.test".into(),
                    limit: DEFAULT_HISTORY_LIMIT,
                    before: None,
                },
            ),
            (r#"{"cmd":"conversations"}"#, Command::Conversations),
            (
                r#"{"cmd":"search","query":"café *"}"#,
                Command::Search {
                    query: "café *".into(),
                    limit: DEFAULT_HISTORY_LIMIT,
                },
            ),
            (r#"{"cmd":"roster"}"#, Command::Roster),
            (
                r#"{"cmd":"add_contact","jid":"bob@example.test","name":"Bob"}"#,
                Command::AddContact {
                    jid: "bob@example.test".into(),
                    name: Some("Bob".into()),
                },
            ),
            (
                r#"{"cmd":"approve","jid":"bob@example.test"}"#,
                Command::Approve {
                    jid: "bob@example.test".into(),
                },
            ),
            (
                r#"{"cmd":"deny","jid":"bob@example.test"}"#,
                Command::Deny {
                    jid: "bob@example.test".into(),
                },
            ),
            (
                r#"{"cmd":"remove_contact","jid":"bob@example.test"}"#,
                Command::RemoveContact {
                    jid: "bob@example.test".into(),
                },
            ),
            (
                r#"{"cmd":"typing","to":"bob@example.test","state":"composing"}"#,
                Command::Typing {
                    to: "bob@example.test".into(),
                    state: "composing".into(),
                },
            ),
            (
                r#"{"cmd":"mark_read","with":"bob@example.test"}"#,
                Command::MarkRead {
                    with: "bob@example.test".into(),
                },
            ),
            (r#"{"cmd":"state"}"#, Command::State),
            (
                r#"{"cmd":"presence","show":"away","status":"lunch"}"#,
                Command::Presence {
                    show: "away".into(),
                    status: Some("lunch".into()),
                },
            ),
            (
                r#"{"cmd":"presence","show":"online"}"#,
                Command::Presence {
                    show: "online".into(),
                    status: None,
                },
            ),
            (
                r#"{"cmd":"network","available":false}"#,
                Command::Network { available: false },
            ),
            (
                r#"{"cmd":"update_contact","jid":"b@x.test","name":"B","groups":["Work"]}"#,
                Command::UpdateContact {
                    jid: "b@x.test".into(),
                    name: Some("B".into()),
                    groups: vec!["Work".into()],
                },
            ),
            (
                r#"{"cmd":"foreground","active":false}"#,
                Command::Foreground { active: false },
            ),
            (
                r#"{"cmd":"correct","id":"m1","body":"fixed"}"#,
                Command::Correct {
                    id: "m1".into(),
                    body: "fixed".into(),
                },
            ),
            (
                r#"{"cmd":"retry","id":"m1"}"#,
                Command::Retry { id: "m1".into() },
            ),
            (
                r#"{"cmd":"watch_occupants","room":"tea@conference.x.test"}"#,
                Command::WatchOccupants {
                    room: "tea@conference.x.test".into(),
                },
            ),
            (
                r#"{"cmd":"unwatch","room":"tea@conference.x.test"}"#,
                Command::Unwatch {
                    with: None,
                    room: Some("tea@conference.x.test".into()),
                },
            ),
            (
                r#"{"cmd":"unwatch"}"#,
                Command::Unwatch {
                    with: None,
                    room: None,
                },
            ),
            (r#" {"cmd":"quit"} "#, Command::Quit),
        ];
        for (line, expected) in cases {
            assert_eq!(Command::parse(line), Ok(expected), "{line}");
        }
    }

    #[test]
    fn malformed_commands_are_errors_with_a_reason() {
        for (line, hint) in [
            ("not json", "expected"),
            (r#"{"to":"bob@example.test"}"#, "cmd"),
            (r#"{"cmd":"dance"}"#, "dance"),
            (r#"{"cmd":"send","to":"bob@example.test"}"#, "body"),
            (r#"{"cmd":"history","with":"b@x.test","limit":-1}"#, "-1"),
            (r#"{"cmd":"network","available":"yes"}"#, "yes"),
            (r#"["send"]"#, "invalid command"),
        ] {
            let err = Command::parse(line).expect_err(line);
            assert!(err.starts_with("invalid command: "), "{err}");
            assert!(err.contains(hint), "{line}: {err}");
        }
    }

    #[test]
    fn connection_states_map_to_state_events() {
        let failed = ConnectionState::Failed {
            reason: FailureReason::Authentication {
                detail: "not-authorized".into(),
            },
        };
        let cases = [
            (
                ConnectionState::Disconnected,
                json!({"event":"state","state":"disconnected"}),
            ),
            (
                ConnectionState::Connecting,
                json!({"event":"state","state":"connecting"}),
            ),
            (
                ConnectionState::Online { resumed: true },
                json!({"event":"state","state":"online","resumed":true}),
            ),
            (
                ConnectionState::Online { resumed: false },
                json!({"event":"state","state":"online","resumed":false}),
            ),
            (
                ConnectionState::Suspended,
                json!({"event":"state","state":"suspended"}),
            ),
            (
                ConnectionState::Reconnecting {
                    attempt: 3,
                    retry_in: Duration::from_millis(1500),
                },
                json!({"event":"state","state":"reconnecting","attempt":3,"retry_in_ms":1500}),
            ),
            (
                failed,
                json!({"event":"state","state":"failed","reason":"authentication failed: not-authorized"}),
            ),
        ];
        for (state, expected) in cases {
            let out = Output::from_event(&Event::ConnectionState(state.clone())).expect("printed");
            assert_eq!(to_json(&out), expected, "{state:?}");
        }
    }

    #[test]
    fn only_incoming_messages_become_message_events() {
        let incoming = message(Direction::Incoming, DeliveryState::Received);
        let out = Output::from_event(&Event::Message(incoming)).expect("printed");
        assert_eq!(
            out.to_line(),
            r#"{"event":"message","id":"m1","from":"bob@example.test","body":"hi \"there\"\n✓","timestamp":"2026-11-26T10:00:00.123Z"}"#
        );
        let outgoing = message(Direction::Outgoing, DeliveryState::Queued);
        assert_eq!(Output::from_event(&Event::Message(outgoing)), None);
        let mut from_other_device = message(Direction::Outgoing, DeliveryState::Acked);
        from_other_device.sender = "me@example.test".into();
        let out = Output::from_event(&Event::Message(from_other_device)).expect("printed");
        assert_eq!(
            out.to_line(),
            r#"{"event":"message","id":"m1","from":"me@example.test","body":"hi \"there\"\n✓","timestamp":"2026-11-26T10:00:00.123Z","to":"bob@example.test","outgoing":true}"#
        );
    }

    #[test]
    fn roster_items_have_the_documented_shape() {
        let contact = jabberkit::Contact {
            jid: "bob@example.test".into(),
            name: Some("Bob".into()),
            groups: vec!["Friends".into()],
            subscription: jabberkit::Subscription::To,
            ask: false,
            pending_in: true,
        };
        let out = Output::Roster {
            items: vec![RosterItem::new(&contact)],
        };
        assert_eq!(
            out.to_line(),
            r#"{"event":"roster","items":[{"jid":"bob@example.test","name":"Bob","groups":["Friends"],"subscription":"to","ask":false,"pending_in":true}]}"#
        );
    }

    #[test]
    fn typing_states_round_trip_and_become_typing_events() {
        for name in ["active", "composing", "paused", "inactive", "gone"] {
            assert_eq!(typing_name(parse_typing(name).expect("known")), name);
        }
        assert!(parse_typing("dancing").is_err());
        let event = Event::Typing {
            from: "bob@example.test".into(),
            state: TypingState::Composing,
        };
        assert_eq!(
            Output::from_event(&event).expect("printed").to_line(),
            r#"{"event":"typing","from":"bob@example.test","state":"composing"}"#
        );
    }

    #[test]
    fn catch_up_progress_becomes_a_line() {
        let event = Event::CatchUp {
            fetched: 120,
            complete: true,
        };
        assert_eq!(
            Output::from_event(&event).expect("printed").to_line(),
            r#"{"event":"catchup","fetched":120,"complete":true}"#
        );
    }

    #[test]
    fn roster_events_become_lines() {
        assert_eq!(
            Output::from_event(&Event::RosterChanged)
                .expect("printed")
                .to_line(),
            r#"{"event":"roster_changed"}"#
        );
        let event = Event::SubscriptionRequest {
            from: "bob@example.test".into(),
        };
        assert_eq!(
            Output::from_event(&event).expect("printed").to_line(),
            r#"{"event":"subscription_request","from":"bob@example.test"}"#
        );
    }

    #[test]
    fn presence_shows_parse_and_become_presence_events() {
        for name in ["online", "away", "dnd", "xa"] {
            assert_eq!(parse_show(name).expect("known").as_str(), name);
        }
        assert!(parse_show("offline").is_err());
        assert!(parse_show("chat").is_err());
        let away = Event::Presence {
            from: "bob@example.test".into(),
            show: Some(Show::Away),
            status: Some("lunch".into()),
        };
        assert_eq!(
            Output::from_event(&away).expect("printed").to_line(),
            r#"{"event":"presence","from":"bob@example.test","show":"away","status":"lunch"}"#
        );
        let offline = Event::Presence {
            from: "bob@example.test".into(),
            show: None,
            status: None,
        };
        assert_eq!(
            Output::from_event(&offline).expect("printed").to_line(),
            r#"{"event":"presence","from":"bob@example.test","show":"offline","status":null}"#
        );
    }

    #[test]
    fn only_progress_states_become_message_state_events() {
        for (state, name) in [
            (DeliveryState::Sent, Some("sent")),
            (DeliveryState::Acked, Some("acked")),
            (DeliveryState::Delivered, Some("delivered")),
            (DeliveryState::Failed, Some("failed")),
            (DeliveryState::Queued, None),
            (DeliveryState::Received, None),
        ] {
            let out = Output::from_event(&Event::MessageState {
                id: "m1".into(),
                conversation: "bob@example.com".into(),
                state,
            });
            let expected = name.map(
                |n| json!({"event":"message_state","id":"m1","with":"bob@example.com","state":n}),
            );
            assert_eq!(out.as_ref().map(to_json), expected, "{state:?}");
        }
    }

    #[test]
    fn history_gives_bare_jids_from_and_to_by_direction() {
        let msgs = [
            message(Direction::Outgoing, DeliveryState::Delivered),
            message(Direction::Incoming, DeliveryState::Received),
        ];
        let out = Output::history("alice@example.test", "bob@example.test", &msgs);
        assert_eq!(
            to_json(&out),
            json!({
                "event": "history",
                "with": "bob@example.test",
                "messages": [
                    {"id":"m1","from":"alice@example.test","to":"bob@example.test","body":"hi \"there\"\n✓",
                     "timestamp":"2026-11-26T10:00:00.123Z","outgoing":true,"state":"delivered"},
                    {"id":"m1","from":"bob@example.test","to":"alice@example.test","body":"hi \"there\"\n✓",
                     "timestamp":"2026-11-26T10:00:00.123Z","outgoing":false,"state":"received"},
                ]
            })
        );
    }

    #[test]
    fn push_has_the_documented_shape() {
        let cmd: Command = serde_json::from_str(
            r#"{"cmd":"enable_push","service":"push.x.test","node":"n1","secret":"s"}"#,
        )
        .expect("parses");
        assert_eq!(
            cmd,
            Command::EnablePush {
                service: "push.x.test".into(),
                node: "n1".into(),
                secret: Some("s".into())
            }
        );
        let event = Event::PushChanged {
            service: "push.x.test".into(),
            node: "n1".into(),
            enabled: false,
            refused: Some("FeatureNotImplemented".into()),
        };
        assert_eq!(
            to_json(&Output::from_event(&event).expect("shown")),
            json!({"event":"push","service":"push.x.test","node":"n1","enabled":false,"refused":"FeatureNotImplemented"})
        );
    }

    #[test]
    fn files_have_the_documented_shape() {
        let cmd: Command =
            serde_json::from_str(r#"{"cmd":"send_file","to":"bob@x.test","path":"/tmp/a.jpg"}"#)
                .expect("parses");
        assert_eq!(
            cmd,
            Command::SendFile {
                to: "bob@x.test".into(),
                path: "/tmp/a.jpg".into(),
                mime_type: None
            }
        );
        let progress = Event::Transfer {
            id: "m1".into(),
            conversation: "bob@example.test".into(),
            progress: jabberkit::TransferProgress {
                done: 65536,
                total: Some(300000),
            },
        };
        assert_eq!(
            to_json(&Output::from_event(&progress).expect("shown")),
            json!({"event":"transfer","id":"m1","with":"bob@example.test","done":65536,"total":300000})
        );
        let url = "https://up.example.test/f/a.jpg";
        let mut m = message(Direction::Incoming, DeliveryState::Received);
        m.body = url.into();
        m.attachment = Some(jabberkit::Attachment {
            url: Some(url.into()),
            name: "a.jpg".into(),
            size: None,
            mime_type: None,
            local_path: None,
        });
        let line = to_json(&Output::from_event(&Event::Message(m.clone())).expect("shown"));
        assert_eq!(line["file"], json!({"name":"a.jpg","url":url}));
        m.attachment.as_mut().unwrap().local_path = Some("/inbox/a.jpg".into());
        assert_eq!(
            to_json(&Output::from_event(&Event::MessageUpdated(m.clone())).expect("shown")),
            json!({"event":"downloaded","id":"m1","with":"bob@example.test","path":"/inbox/a.jpg"})
        );
        m.direction = Direction::Outgoing;
        m.state = DeliveryState::Queued;
        assert_eq!(
            to_json(&Output::from_event(&Event::MessageUpdated(m)).expect("shown")),
            json!({"event":"uploaded","id":"m1","with":"bob@example.test","url":url})
        );
    }

    #[test]
    fn simple_events_have_the_documented_shape() {
        let queued = Output::Queued {
            id: "m1".into(),
            to: "bob@example.test".into(),
        };
        assert_eq!(
            queued.to_line(),
            r#"{"event":"queued","id":"m1","to":"bob@example.test"}"#
        );
        assert_eq!(
            Output::error("boom").to_line(),
            r#"{"event":"error","message":"boom"}"#
        );
        let summary = jabberkit::Conversation {
            with: "bob@example.test".into(),
            kind: jabberkit::ConversationKind::Chat,
            last_message: message(Direction::Incoming, DeliveryState::Received),
            unread: 2,
        };
        let out = Output::Conversations {
            items: vec![ConversationItem::new(&summary)],
        };
        assert_eq!(
            to_json(&out),
            json!({"event":"conversations","items":[{"with":"bob@example.test","kind":"chat","last_body":"hi \"there\"\n✓","last_timestamp":"2026-11-26T10:00:00.123Z","unread":2}]})
        );

        let bob = jabberkit::Occupant {
            nick: "bob".into(),
            role: "participant".into(),
            affiliation: "none".into(),
            jid: None,
        };
        let out = Output::OccupantsDiff {
            room: "tea@conference.x.test".into(),
            diffs: vec![
                Diff::new(jabberkit::ListDiff::Remove { index: 0 }, OccupantItem::new),
                Diff::new(
                    jabberkit::ListDiff::Insert {
                        index: 1,
                        item: bob,
                    },
                    OccupantItem::new,
                ),
            ],
        };
        assert_eq!(
            to_json(&out),
            json!({"event":"occupants_diff","room":"tea@conference.x.test","diffs":[
                {"op":"remove","index":0},
                {"op":"insert","index":1,"item":{"nick":"bob","role":"participant","affiliation":"none"}}
            ]})
        );
    }

    #[test]
    fn every_output_is_a_single_line() {
        let out = Output::from_event(&Event::Message(message(
            Direction::Incoming,
            DeliveryState::Received,
        )))
        .expect("printed");
        assert!(!out.to_line().contains('\n'));
    }
}
