//! One run of the account between `connect()` and `disconnect()` (or a
//! fatal failure): a single task that owns the [`Link`] and sequences the
//! session; each concern is a handler in its own file with its own state.
//!
//! This file only sequences (what a fresh or a resumed session does, in
//! which order) and routes: stanzas to the handler they belong to (IQ
//! answers in `answers.rs`), the app's [`Command`]s, tracker reports. Handlers never send
//! and never call each other: they return what to send ([`Out`],
//! [`Push`]) and this file sends it, so each runs in unit tests on
//! scripted XML.
//!
//! | handler | owns |
//! |---|---|
//! | [`send_queue`] | what must reach the server exactly once: outbox messages, corrections, receipts, read markers, all persisted first; in-flight entries and their acks |
//! | [`ingest`] | storing once and announcing what arrives: live, carbons, archive pages, receipts, markers |
//! | [`catch_up`] | paging our archive after a fresh session |
//! | [`contacts`] | roster, subscriptions, our presence and contacts' presence |
//! | [`rooms`] | group chat rooms: joining (again on a fresh session), occupants, room messages |
//! | [`uploads`] | our files on their way to the upload service (XEP-0363), their slots and HTTP transfers |
//! | [`push`] | our push registration (XEP-0357) on our server |
//! | [`requests`] | our IQ requests waiting for an answer (a leaf the others share) |
//!
//! Being the only owner of the link, it needs no locks: the app talks to it
//! through [`Command`]s, trackers report back through a channel.
//!
//! It is also the one publisher of [`ConnectionState`]: the link reports
//! what happened to it ([`LinkEvent`]), this file decides what the app
//! sees, and [`idle`] is the state between sessions. `online` here is the
//! one source of truth for "may we push now".

mod account;
mod answers;
mod blocking;
mod bookmarks;
mod catch_up;
mod closing;
mod contacts;
#[cfg(test)]
mod fixture;
mod ingest;
mod messages;
mod outgoing;
mod push;
mod requests;
mod room_actions;
mod room_dispatch;
mod rooms;
mod send_queue;
mod setup;
mod state;
mod upload_dispatch;
mod uploads;

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};
use tokio_xmpp::jid::BareJid;
use tokio_xmpp::parsers::carbons;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::message::Message;
use tokio_xmpp::Stanza;

use crate::archive;
use crate::connection::{Link, LinkEvent};
use crate::events::EventHub;
use crate::inbound;
use crate::model::{ConnectionState, FailureReason, TypingState};
use crate::outbox::Report;
use crate::store::Store;
use bookmarks::Bookmarks;
use catch_up::CatchUp;
use contacts::Contacts;
use ingest::Ingest;
use requests::{Out, Requests};
use room_actions::RoomActions;
use rooms::Rooms;
use send_queue::SendQueue;
use uploads::Uploads;

pub(crate) use account::AccountCommand;
use blocking::off_worker;
pub(crate) use contacts::{OwnPresence, RosterCommand};
pub(crate) use requests::Joined;
pub(crate) use room_actions::RoomAction;
pub(crate) use rooms::RoomCommand;
pub(crate) use state::idle;
use state::{published, Flow};

pub(crate) enum Command {
    /// An item was added to the send queue (a message, a correction, a
    /// read marker) with this id: push it if online (it waits in the store
    /// otherwise).
    Queued(String),
    /// Tell a contact what we are doing (XEP-0085). Dropped unless online.
    Typing(BareJid, TypingState),
    /// Change the contact list or answer a subscription request.
    Roster(RosterCommand),
    /// Enter or leave a group chat room.
    Room(RoomCommand),
    /// Invite, decline, set a subject, kick, ban, destroy: only online.
    RoomAction(RoomAction),
    /// A file message was stored: start its upload if online (it
    /// waits in the store otherwise).
    Upload,
    /// Change our password, or remove our account, and answer.
    Account(account::AccountCommand),
    /// The app changed its push registration (stored): tell our server
    /// if online (the next fresh session does otherwise).
    Push,
    /// Close the link cleanly, then answer.
    Disconnect(oneshot::Sender<()>),
}

pub(crate) struct Session {
    pub link: Link,
    pub own: BareJid,
    pub store: Arc<Store>,
    pub hub: Arc<EventHub>,
    pub commands: mpsc::UnboundedReceiver<Command>,
    /// Our availability as the app last set it (`Client::set_presence`).
    pub own_presence: watch::Receiver<OwnPresence>,
    /// Whether the app is in the foreground (`Client::set_foreground`).
    pub foreground: watch::Receiver<bool>,
    /// The password logins use (changed by `Client::change_password`).
    pub password: Arc<watch::Sender<String>>,
    /// See `ClientConfig::catch_up_first_login`.
    pub catch_up_first_login: u32,
    /// See `ClientConfig::room_ping_interval`.
    pub room_ping: std::time::Duration,
    /// See `ClientConfig::room_first_visit`.
    pub room_first_visit: u32,
    /// The rooms we are in, as the client shows them.
    pub joined_rooms: Joined,
    /// See `ClientConfig::extra_ca_pem`: file transfers trust it too.
    pub extra_ca_pem: Option<String>,
}

/// The session's state: the link, whether it is up, and the handlers.
struct Running {
    link: Link,
    own: BareJid,
    hub: Arc<EventHub>,
    /// Whether the link is up: nothing is pushed while it is not.
    online: bool,
    requests: Requests,
    queue: SendQueue,
    ingest: Ingest,
    catch_up: CatchUp,
    contacts: Contacts,
    rooms: Rooms,
    room_actions: RoomActions,
    bookmarks: Bookmarks,
    uploads: Uploads,
    push: push::Push,
    account: account::Account,
    /// Our account was removed from the server: the session ends.
    account_gone: bool,
}

impl Session {
    /// Announces `Connecting` at once (the app sees it before `connect()`
    /// returns) and returns the session's task.
    pub(crate) fn start(self) -> impl std::future::Future<Output = ()> + Send {
        self.hub.set_state(ConnectionState::Connecting);
        self.run()
    }

    async fn run(self) {
        let (progress_tx, mut progress) = mpsc::unbounded_channel();
        let (upload_tx, mut upload_reports) = mpsc::unbounded_channel();
        let (mut s, inputs) = self.into_handlers(progress_tx, upload_tx);
        let setup::Inputs {
            mut commands,
            mut own_presence,
            mut foreground,
            room_ping,
        } = inputs;
        // Remembered by the link and sent once a connection is up.
        let active = *foreground.borrow_and_update();
        s.link.set_foreground(active).await;
        let start = tokio::time::Instant::now() + room_ping;
        let mut room_pings = tokio::time::interval_at(start, room_ping);
        room_pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let flow = tokio::select! {
                Some(report) = progress.recv() => {
                    // Sessions are lost as a whole, and acks come in bursts:
                    // take every report already waiting, store them in one
                    // transaction, then resend what was lost in order.
                    let mut reports = vec![report];
                    while let Ok(report) = progress.try_recv() {
                        reports.push(report);
                    }
                    s.on_reports(reports).await;
                    Flow::Continue
                }
                Some(report) = upload_reports.recv() => {
                    s.on_upload_report(report).await;
                    Flow::Continue
                }
                ev = s.link.next() => s.on_link(ev, &mut own_presence).await,
                cmd = commands.recv() => s.on_command(cmd).await,
                _ = room_pings.tick(), if s.online => {
                    let pings = s.rooms.self_ping(room_ping);
                    s.send(pings).await;
                    Flow::Continue
                }
                Ok(()) = foreground.changed() => {
                    let active = *foreground.borrow_and_update();
                    s.link.set_foreground(active).await;
                    Flow::Continue
                }
                Ok(()) = own_presence.changed() => {
                    // Offline, it is only remembered: the next Online sends it.
                    if s.online {
                        let want = own_presence.borrow_and_update().clone();
                        let out = s.contacts.presence(want);
                        s.send(out).await;
                    }
                    Flow::Continue
                }
            };
            if let Flow::Close(disconnect) = flow {
                if disconnect.is_some() && s.online {
                    s.final_acks(&mut progress).await;
                }
                s.link.close().await;
                if let Some(done) = disconnect {
                    idle(&s.hub);
                    let _ = done.send(());
                }
                return;
            }
        }
    }
}

impl Running {
    async fn on_link(
        &mut self,
        ev: LinkEvent,
        own_presence: &mut watch::Receiver<OwnPresence>,
    ) -> Flow {
        // A server that removed our account may close the connection so
        // fast that its answer is lost (a reset discards what was not read
        // yet); the login that follows is refused: that is the answer.
        if let LinkEvent::Closed(Some(FailureReason::Authentication { .. })) = &ev {
            if self.account.removal_pending() {
                self.account.removed();
                idle(&self.hub);
                return Flow::Close(None);
            }
        }
        // Online is published once our presence is on the wire: a server
        // routes a message to the bare JID only to available resources, so
        // a contact writing after we show Online reaches this session.
        let state = published(&ev);
        if let (Some(state), false) = (&state, matches!(ev, LinkEvent::Online { .. })) {
            self.hub.set_state(state.clone());
        }
        match ev {
            LinkEvent::Online {
                resumed,
                acks,
                max_bytes,
            } => {
                self.online = true;
                if !resumed {
                    // An account change asked on the lost stream is never answered.
                    self.account.stream_lost();
                    self.queue.fresh_session(acks, max_bytes);
                    let fetch = off_worker(|| self.contacts.fresh_session());
                    self.send(Some(fetch)).await;
                }
                // A fresh session: the server needs our presence to route
                // messages here and flush offline storage. A resumed one:
                // only a change made while suspended.
                let want = own_presence.borrow_and_update().clone();
                let out = self.contacts.presence(want);
                self.send(out).await;
                if let Some(state) = state {
                    self.hub.set_state(state);
                }
                // The send queue, oldest first: on the first session what
                // an earlier run (or a killed process) left unacked; after
                // a resumption, what was queued while suspended (the stream
                // resent its own unacked stanzas first).
                let pushes = off_worker(|| self.queue.pending(None));
                self.push(pushes).await;
                if !resumed {
                    // Carbons (XEP-0280) are per session: ask again so what
                    // our other devices send and receive shows up here too.
                    // The result is not awaited; a server without carbons
                    // only costs us those copies.
                    let id = uuid::Uuid::new_v4().to_string();
                    tracing::debug!(%id, "enabling message carbons");
                    self.send(Some(Out::send(Iq::from_set(id, carbons::Enable))))
                        .await;
                    // What arrived while no stream was up, page by page;
                    // live stanzas keep flowing meanwhile. A resumed stream
                    // lost nothing.
                    self.requests.forget_archive_pages();
                    // Reads (and on a first login writes) the archive position.
                    let first = off_worker(|| self.catch_up.start());
                    let settled = first.is_none();
                    self.send(first).await;
                    if settled {
                        self.link.settled().await;
                    }
                    // The server forgot our rooms with the session.
                    // Bookmarks first: their answer usually comes before
                    // the rooms', so a rejoin republishes nothing.
                    let bookmarks = self.bookmarks.fresh_session();
                    self.send(bookmarks).await;
                    let joins = off_worker(|| self.rooms.fresh_session());
                    self.send(joins).await;
                    let push = off_worker(|| self.push.requests());
                    self.send(push).await;
                }
                let uploads = if resumed {
                    off_worker(|| self.uploads.start_all())
                } else {
                    off_worker(|| self.uploads.fresh_session())
                };
                self.send(uploads).await;
                Flow::Continue
            }
            LinkEvent::Suspended => {
                self.online = false;
                self.queue.suspended();
                Flow::Continue
            }
            LinkEvent::Retrying { .. } => Flow::Continue,
            LinkEvent::Stanza(stanza) => {
                self.on_stanza(*stanza).await;
                if self.account_gone {
                    // Nothing can log in any more: the run ends, disconnected.
                    idle(&self.hub);
                    return Flow::Close(None);
                }
                if self.online {
                    self.push_released().await;
                }
                Flow::Continue
            }
            // The session ends here: what `published` made of it is its last
            // state, so no late report can hide a failure.
            LinkEvent::Closed(_) => {
                self.online = false;
                Flow::Close(None)
            }
        }
    }

    async fn on_command(&mut self, cmd: Option<Command>) -> Flow {
        match cmd {
            Some(Command::Queued(id)) => {
                // Offline it waits in the store for the next Online.
                if self.online {
                    let push = self.queue.entry(&id);
                    self.push(push).await;
                }
            }
            // A notification queued across a link loss would arrive stale.
            Some(Command::Typing(to, state)) => {
                if self.online {
                    self.send(Some(Out::send(inbound::typing_for(to, state))))
                        .await;
                }
            }
            Some(Command::Roster(cmd)) => {
                let out = self.contacts.on_command(cmd);
                self.send(out).await;
            }
            Some(Command::Room(cmd)) => self.on_room_command(cmd).await,
            Some(Command::RoomAction(action)) if self.online => {
                let out = self.room_actions.act(action);
                self.send(Some(out)).await;
            }
            Some(Command::RoomAction(action)) => {
                tracing::info!(?action, "offline: not sent");
            }
            Some(Command::Upload) => {
                if self.online {
                    let out = off_worker(|| self.uploads.start_all());
                    self.send(out).await;
                }
            }
            Some(Command::Account(cmd)) => {
                let out = self.account.on_command(cmd, self.online);
                self.send(out).await;
            }
            Some(Command::Push) => {
                if self.online {
                    let out = off_worker(|| self.push.requests());
                    self.send(out).await;
                }
            }
            Some(Command::Disconnect(done)) => return Flow::Close(Some(done)),
            // The Client was dropped.
            None => return Flow::Close(None),
        }
        Flow::Continue
    }

    async fn on_reports(&mut self, reports: Vec<Report>) {
        let lost = off_worker(|| self.queue.on_reports(reports));
        if !self.online {
            return;
        }
        if !lost.is_empty() {
            tracing::info!(
                count = lost.len(),
                "resending messages the server may not have"
            );
            let pushes = off_worker(|| self.queue.pending(Some(&lost.into_iter().collect())));
            self.push(pushes).await;
        }
        self.push_released().await;
    }

    /// What waited on an item that has just left the send queue (acked,
    /// or settled by a receipt or a room's echo) goes now.
    async fn push_released(&mut self) {
        // Most of the time nothing waits: no store read, no hand-off.
        if !self.queue.holds() {
            return;
        }
        let pushes = off_worker(|| self.queue.released());
        self.push(pushes).await;
    }

    async fn on_stanza(&mut self, stanza: Stanza) {
        match stanza {
            Stanza::Message(msg) if self.rooms.owns(&msg) => {
                off_worker(|| self.rooms.on_message(msg))
            }
            Stanza::Message(msg) if archive::is_result(&msg) => self.catch_up.on_result(msg),
            Stanza::Message(msg) => self.on_message(msg).await,
            Stanza::Iq(iq) => self.on_iq(iq).await,
            Stanza::Presence(p) if self.rooms.is_from(p.from.as_ref()) => {
                self.on_room_presence(p).await
            }
            Stanza::Presence(p) => off_worker(|| self.contacts.on_presence(p)),
        }
    }

    async fn on_message(&mut self, msg: Message) {
        if let Some(effects) = off_worker(|| self.bookmarks.on_message(&msg)) {
            return self.on_bookmarks(effects).await;
        }
        let receipt = off_worker(|| self.ingest_message(msg));
        self.push(receipt).await;
    }
}

#[cfg(test)]
mod tests;
