//! One run of the account between `connect()` and `disconnect()` (or a
//! fatal failure): a single task that owns the [`Link`], feeds it the
//! outbox, and turns what arrives into stored messages and events.
//!
//! Being the only owner of the link, it needs no locks: the app talks to it
//! through [`Command`]s, trackers report back through a channel.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_xmpp::jid::BareJid;
use tokio_xmpp::parsers::carbons;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::message::Message;
use tokio_xmpp::parsers::presence::{Presence, Type as PresenceType};
use tokio_xmpp::parsers::stanza_error::{DefinedCondition, StanzaError};
use tokio_xmpp::Stanza;

use crate::archive::{self, Archived, Page};
use crate::connection::{Link, LinkEvent, Outcome};
use crate::events::{ConnectionState, Event, EventHub, TypingState};
use crate::inbound::{self, Chat, Inbound, OwnCopy};
use crate::outbox::{self, Progress};
use crate::presence::{self, Show, Update};
use crate::roster::{self, Push};
use crate::store::{
    CorrectionTarget, DeliveryState, Direction, NewIncoming, NewOutgoingCopy, PageItem, Store,
    StoreError,
};

pub(crate) enum Command {
    /// An outbox entry was added: send it.
    Send(String),
    /// A correction of one of our messages is pending (its correction id).
    Correct(String),
    /// Tell the peer we displayed its message with this `@id` (XEP-0333).
    /// Sent when online; the newest one per peer waits otherwise.
    Displayed(BareJid, String),
    /// Tell a contact what we are doing (XEP-0085). Dropped unless online.
    Typing(BareJid, TypingState),
    /// Change the contact list or answer a subscription request.
    Roster(RosterCommand),
    /// Close the link cleanly, then answer.
    Disconnect(oneshot::Sender<()>),
}

/// What the app asked to do with a contact (see `Client::add_contact`…).
pub(crate) enum RosterCommand {
    Add(BareJid, Option<String>),
    /// Name and groups, without asking for permission again.
    Update(BareJid, Option<String>, Vec<String>),
    Approve(BareJid),
    Deny(BareJid),
    Remove(BareJid),
}

/// Our IQ requests that still wait for their result, by id.
enum Request {
    RosterFetch,
    RosterSet(BareJid),
    /// One page of the catch-up from our archive.
    Archive(Page),
}

/// A catch-up from our archive in progress (see [`crate::archive`]).
struct CatchUp {
    /// The query id every page of it carries: results with another are
    /// refused.
    queryid: String,
    /// Archived messages received so far.
    fetched: u32,
    /// The current page's messages, stored together when it ends: one
    /// transaction per page, and the archive position moves only with it.
    page: Vec<Archived>,
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
    /// See `ClientConfig::catch_up_first_login`.
    pub catch_up_first_login: u32,
}

/// Our show and status text.
pub(crate) type OwnPresence = (Show, Option<String>);

struct Running {
    link: Link,
    own: BareJid,
    store: Arc<Store>,
    hub: Arc<EventHub>,
    /// Entries pushed into the stream whose fate is not known yet.
    in_flight: HashSet<String>,
    /// Which of `in_flight` are corrections (by correction id), not
    /// outbox entries.
    corrections: HashSet<String>,
    /// Read markers to send when next online, newest per peer.
    markers: HashMap<BareJid, String>,
    progress_tx: mpsc::UnboundedSender<outbox::Report>,
    /// Counts fresh sessions. A fresh session lost everything in flight on
    /// the one before; reports about pushes made on it are stale.
    generation: u64,
    requests: HashMap<String, Request>,
    /// Whether the link is up (a change of our presence is sent at once).
    online: bool,
    /// What this session last broadcast; `None` before the first time.
    sent_presence: Option<OwnPresence>,
    catch_up: Option<CatchUp>,
    catch_up_first_login: u32,
}

impl Session {
    pub(crate) async fn run(self) {
        let Session {
            link,
            own,
            store,
            hub,
            mut commands,
            mut own_presence,
            mut foreground,
            catch_up_first_login,
        } = self;
        let (progress_tx, mut progress) = mpsc::unbounded_channel();
        let mut s = Running {
            link,
            own,
            store,
            hub,
            in_flight: HashSet::new(),
            corrections: HashSet::new(),
            markers: HashMap::new(),
            progress_tx,
            generation: 0,
            requests: HashMap::new(),
            online: false,
            sent_presence: None,
            catch_up: None,
            catch_up_first_login,
        };
        // Remembered by the link and sent once a connection is up.
        let active = *foreground.borrow_and_update();
        s.link.set_foreground(active).await;
        loop {
            tokio::select! {
                ev = s.link.next() => match ev {
                    LinkEvent::Online { resumed } => {
                        s.online = true;
                        if !resumed {
                            // The server forgot whatever it had not acked:
                            // everything in flight goes again, in outbox order,
                            // ahead of what was queued since.
                            s.generation += 1;
                            s.in_flight.clear();
                            s.corrections.clear();
                            // The roster before presence (RFC 6121 §2.2): the
                            // server then knows we want its pushes, and the
                            // presence answers arrive for known contacts.
                            s.fetch_roster().await;
                            // The server sends every contact's presence again
                            // after our initial one: what we stored is stale.
                            s.forget_stale_presence();
                            s.sent_presence = None;
                        }
                        // A fresh session: the server needs our presence to
                        // route messages here and flush offline storage. A
                        // resumed one: only a change made while suspended.
                        let want = own_presence.borrow_and_update().clone();
                        s.send_presence(want).await;
                        s.send_markers().await;
                        // The outbox, oldest first: on the first session what
                        // an earlier run (or a killed process) left unacked;
                        // after a resumption, what was queued while suspended
                        // (the stream resent its own unacked stanzas first).
                        s.push_outbox(None).await;
                        if !resumed {
                            // Carbons (XEP-0280) are per session: ask again so
                            // what our other devices send and receive shows up
                            // here too. The result is not awaited; a server
                            // without carbons only costs us those copies.
                            let id = uuid::Uuid::new_v4().to_string();
                            tracing::debug!(%id, "enabling message carbons");
                            let _ = s.link.send(Iq::from_set(id, carbons::Enable)).await;
                            // What arrived while no stream was up, page by
                            // page; live stanzas keep flowing meanwhile. A
                            // resumed stream lost nothing.
                            s.start_catch_up().await;
                        }
                    }
                    LinkEvent::Suspended => s.online = false,
                    LinkEvent::Stanza(stanza) => s.on_stanza(*stanza).await,
                    LinkEvent::Closed(reason) => {
                        if reason.is_none() {
                            s.hub.set_state_unless_failed(ConnectionState::Disconnected);
                        }
                        s.link.close().await;
                        return;
                    }
                },
                cmd = commands.recv() => match cmd {
                    Some(Command::Send(id)) => s.push(&id).await,
                    Some(Command::Correct(id)) => s.push_corrections(Some(&HashSet::from([id]))).await,
                    Some(Command::Displayed(to, id)) => {
                        s.markers.insert(to, id);
                        if s.online {
                            s.send_markers().await;
                        }
                    }
                    // A notification queued across a link loss would arrive stale.
                    Some(Command::Typing(to, state)) => {
                        if matches!(s.hub.state(), ConnectionState::Online { .. }) {
                            let _ = s.link.send(inbound::typing_for(to, state)).await;
                        }
                    }
                    Some(Command::Roster(cmd)) => s.on_roster_command(cmd).await,
                    Some(Command::Disconnect(done)) => {
                        s.link.close().await;
                        s.hub.set_state(ConnectionState::Disconnected);
                        let _ = done.send(());
                        return;
                    }
                    // The Client was dropped.
                    None => {
                        s.link.close().await;
                        return;
                    }
                },
                Ok(()) = foreground.changed() => {
                    let active = *foreground.borrow_and_update();
                    s.link.set_foreground(active).await;
                }
                Ok(()) = own_presence.changed() => {
                    // Offline, it is only remembered: the next Online sends it.
                    if s.online {
                        let want = own_presence.borrow_and_update().clone();
                        s.send_presence(want).await;
                    }
                }
                Some((generation, id, p)) = progress.recv() => {
                    let mut lost = Vec::new();
                    s.on_progress(generation, id, p, &mut lost);
                    // Sessions are lost as a whole: gather every report that is
                    // already waiting, then resend in outbox order.
                    while let Ok((generation, id, p)) = progress.try_recv() {
                        s.on_progress(generation, id, p, &mut lost);
                    }
                    if !lost.is_empty() {
                        tracing::info!(count = lost.len(), "resending messages the server may not have");
                        s.push_outbox(Some(&lost.into_iter().collect())).await;
                    }
                }
            }
        }
    }
}

impl Running {
    /// Pushes outbox entries (all of them, or only `only`) in order.
    async fn push_outbox(&mut self, only: Option<&HashSet<String>>) {
        let entries = match self.store.outbox() {
            Ok(entries) => entries,
            Err(e) => {
                tracing::error!("cannot read the outbox: {e}");
                return;
            }
        };
        for msg in entries {
            if only.is_none_or(|set| set.contains(&msg.id)) {
                self.push(&msg.id).await;
            }
        }
        // After the outbox: a correction follows the message it corrects.
        self.push_corrections(only).await;
    }

    /// Pushes our pending corrections (all, or only those in `only`).
    async fn push_corrections(&mut self, only: Option<&HashSet<String>>) {
        let pending = match self.store.pending_corrections() {
            Ok(pending) => pending,
            Err(e) => {
                tracing::error!("cannot read pending corrections: {e}");
                return;
            }
        };
        for (correction_id, msg) in pending {
            if !self.online
                || self.in_flight.contains(&correction_id)
                || only.is_some_and(|set| !set.contains(&correction_id))
            {
                continue;
            }
            let Ok(to) = msg.conversation.parse::<BareJid>() else {
                continue;
            };
            let delivery = self
                .link
                .send(outbox::correction_for(&msg, &correction_id, to))
                .await;
            self.in_flight.insert(correction_id.clone());
            self.corrections.insert(correction_id.clone());
            outbox::track(
                self.generation,
                correction_id,
                delivery,
                self.progress_tx.clone(),
            );
        }
    }

    /// Sends the read markers waiting for a link.
    async fn send_markers(&mut self) {
        for (to, id) in std::mem::take(&mut self.markers) {
            let _ = self.link.send(outbox::displayed_for(to, id)).await;
        }
    }

    async fn push(&mut self, id: &str) {
        // Offline, entries wait in the outbox: pushed now they would sit in
        // the stream's queue and go out on a fresh session ahead of the
        // older ones it lost, which `Online` pushes again in outbox order.
        if !self.online || self.in_flight.contains(id) {
            return;
        }
        let msg = match self.store.message(id) {
            Ok(Some(msg)) => msg,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(id, "cannot read an outbox message: {e}");
                return;
            }
        };
        if !matches!(msg.state, DeliveryState::Queued | DeliveryState::Sent) {
            return;
        }
        let to: BareJid = match msg.conversation.parse() {
            Ok(to) => to,
            Err(e) => {
                // Validated by send(); only a corrupted row gets here.
                let reason = format!("stored recipient {:?} is not a JID: {e}", msg.conversation);
                if let Ok(Some(m)) = self.store.fail(id, &reason) {
                    self.hub.emit(Event::MessageState {
                        id: m.id,
                        state: m.state,
                    });
                }
                return;
            }
        };
        if let Err(e) = self.store.note_attempt(id) {
            tracing::warn!(id, "cannot count a send attempt: {e}");
        }
        let delivery = self.link.send(outbox::stanza_for(&msg, to)).await;
        self.in_flight.insert(id.to_owned());
        outbox::track(
            self.generation,
            id.to_owned(),
            delivery,
            self.progress_tx.clone(),
        );
    }

    fn on_progress(
        &mut self,
        generation: u64,
        id: String,
        progress: Progress,
        lost: &mut Vec<String>,
    ) {
        if generation != self.generation {
            // Pushed on a session the server forgot; already pushed again.
            return;
        }
        if self.corrections.contains(&id) {
            match progress {
                Progress::Sent => {}
                Progress::Done(outcome) => {
                    self.in_flight.remove(&id);
                    self.corrections.remove(&id);
                    match outcome {
                        Outcome::Acked => {
                            if let Err(e) = self.store.correction_acked(&id) {
                                tracing::error!(%id, "cannot record an acked correction: {e}");
                            }
                        }
                        Outcome::Lost => lost.push(id),
                    }
                }
            }
            return;
        }
        let state = match progress {
            Progress::Sent => DeliveryState::Sent,
            Progress::Done(Outcome::Acked) => {
                self.in_flight.remove(&id);
                DeliveryState::Acked
            }
            Progress::Done(Outcome::Lost) => {
                self.in_flight.remove(&id);
                lost.push(id);
                return;
            }
        };
        self.advance(&id, state);
    }

    fn advance(&self, id: &str, state: DeliveryState) {
        match self.store.advance_state(id, state) {
            Ok(Some(m)) => self.hub.emit(Event::MessageState {
                id: m.id,
                state: m.state,
            }),
            Ok(None) => {}
            Err(e) => tracing::error!(id, "cannot record message state {state:?}: {e}"),
        }
    }

    /// A live message's time: its delay stamp (if any), but never before
    /// what this sender already sent us. XMPP delivers one sender's messages
    /// in order, while delay stamps from a resumed session are rounded to
    /// the second and would sort a newer message before an older one.
    fn live_timestamp(&self, from: &str, stamped: DateTime<Utc>) -> DateTime<Utc> {
        match self.store.last_received_from(from) {
            Ok(Some(last)) => stamped.max(last),
            Ok(None) => stamped,
            Err(e) => {
                tracing::warn!("cannot read the last message time: {e}");
                stamped
            }
        }
    }

    /// Fails our message `id` if the bounce comes from its recipient (or the
    /// recipient's server); a stranger cannot fail our messages.
    fn on_bounce(&mut self, from: BareJid, id: &str, reason: &str) {
        let Ok(Some(msg)) = self.store.message(id) else {
            return;
        };
        let recipient_domain = msg.conversation.rsplit('@').next().unwrap_or_default();
        let from_recipient = from.as_str() == msg.conversation || from.as_str() == recipient_domain;
        if msg.direction != Direction::Outgoing || !from_recipient {
            return;
        }
        tracing::warn!(id, %from, "message bounced: {reason}");
        match self.store.fail(id, reason) {
            Ok(Some(m)) => self.hub.emit(Event::MessageState {
                id: m.id,
                state: m.state,
            }),
            Ok(None) => {}
            Err(e) => tracing::error!(id, "cannot record a bounce: {e}"),
        }
    }

    /// Stores an incoming chat message and announces it if it is new.
    /// `false` only if it could not be stored.
    fn store_incoming(&self, chat: &Chat) -> bool {
        let from = chat.from.to_bare().to_string();
        self.store_chat(chat, self.live_timestamp(&from, chat.timestamp))
    }

    /// Stores an incoming chat message at `timestamp` and announces it if
    /// it is new. `false` only if it could not be stored.
    fn store_chat(&self, chat: &Chat, timestamp: DateTime<Utc>) -> bool {
        let from = chat.from.to_bare().to_string();
        if let Some(replaced) = &chat.replace {
            if self.apply_correction(&from, &from, replaced, &chat.body) {
                return true;
            }
        }
        let stored = self.store.insert_incoming(NewIncoming {
            from: &from,
            remote_id: chat.remote_id.as_deref(),
            origin_id: chat.origin_id.as_deref(),
            stanza_id: chat.stanza_id.as_deref(),
            body: &chat.body,
            timestamp,
            markable: chat.markable,
        });
        match stored {
            Ok(Some(m)) => self.hub.emit(Event::Message(m)),
            Ok(None) => tracing::debug!(%from, "duplicate message dropped"),
            Err(e) => {
                tracing::error!(%from, "cannot store an incoming message: {e}");
                return false;
            }
        }
        true
    }

    /// Stores a message another device of ours sent (a carbon or an
    /// archive entry) and announces it if it is new.
    fn store_outgoing_copy(&self, copy: &OwnCopy) {
        let to = &copy.to;
        if let Some(replaced) = &copy.replace {
            if self.apply_correction(to.as_str(), self.own.as_str(), replaced, &copy.body) {
                return;
            }
        }
        let stored = self.store.insert_outgoing_copy(NewOutgoingCopy {
            own_jid: self.own.as_str(),
            to: to.as_str(),
            origin_id: copy.origin_id.as_deref(),
            remote_id: copy.remote_id.as_deref(),
            body: &copy.body,
            timestamp: copy.timestamp,
        });
        match stored {
            Ok(Some(m)) => self.hub.emit(Event::Message(m)),
            Ok(None) => tracing::debug!(%to, "duplicate copy of our own message dropped"),
            Err(e) => tracing::error!(%to, "cannot store a copy of our own message: {e}"),
        }
    }

    /// Applies an XEP-0308 correction by `sender` in the conversation with
    /// `peer`. `false` when `sender` has no such message here: the caller
    /// then stores the correction as a message of its own, as the XEP says.
    fn apply_correction(&self, peer: &str, sender: &str, replaced: &str, body: &str) -> bool {
        match self.store.apply_correction(peer, sender, replaced, body) {
            Ok(Some(CorrectionTarget::Changed(m))) => {
                self.hub.emit(Event::MessageCorrected(m));
                true
            }
            Ok(Some(CorrectionTarget::Unchanged)) => true,
            Ok(None) => false,
            Err(e) => {
                tracing::error!(%peer, "cannot apply a correction: {e}");
                false
            }
        }
    }

    async fn on_stanza(&mut self, stanza: Stanza) {
        match stanza {
            Stanza::Message(msg) if archive::is_result(&msg) => self.on_archived(msg),
            Stanza::Message(msg) => {
                match inbound::classify_message(&self.own, msg, chrono::Utc::now()) {
                    Inbound::Chat(chat) => {
                        // Confirm only once it is stored (or already was).
                        if self.store_incoming(&chat) && chat.wants_receipt {
                            if let Some(id) = chat.remote_id.or(chat.origin_id) {
                                let _ = self.link.send(outbox::receipt_for(chat.from, id)).await;
                            }
                        }
                    }
                    // The device it was addressed to sends the receipt.
                    Inbound::CarbonReceived(chat) => {
                        self.store_incoming(&chat);
                    }
                    Inbound::CarbonSent(copy) => self.store_outgoing_copy(&copy),
                    Inbound::Receipt { from, id } => {
                        match self.store.mark_delivered(from.as_str(), &id) {
                            Ok(Some(m)) => self.hub.emit(Event::MessageState {
                                id: m.id,
                                state: m.state,
                            }),
                            Ok(None) => {}
                            Err(e) => tracing::error!(%id, "cannot record a receipt: {e}"),
                        }
                    }
                    Inbound::Bounce { from, id, reason } => self.on_bounce(from, &id, &reason),
                    Inbound::Displayed { from, id } => {
                        match self.store.mark_displayed(from.as_str(), &id) {
                            Ok(read) => {
                                for m in read {
                                    self.hub.emit(Event::MessageState {
                                        id: m.id,
                                        state: m.state,
                                    });
                                }
                            }
                            Err(e) => tracing::error!(%id, "cannot record a read marker: {e}"),
                        }
                    }
                    Inbound::ReadElsewhere { with } => match self.store.mark_read(with.as_str()) {
                        Ok(_) => self.hub.emit(Event::ConversationRead {
                            with: with.to_string(),
                        }),
                        Err(e) => tracing::error!(%with, "cannot mark a conversation read: {e}"),
                    },
                    Inbound::Typing { from, state } => self.hub.emit(Event::Typing {
                        from: from.to_string(),
                        state,
                    }),
                    Inbound::Ignore => {}
                }
            }
            Stanza::Iq(iq) => self.on_iq(iq).await,
            Stanza::Presence(p) => self.on_presence(p),
        }
    }

    async fn on_iq(&mut self, iq: Iq) {
        match iq {
            Iq::Result {
                id, from, payload, ..
            } if self.is_our_server(from.as_ref()) => match self.requests.remove(&id) {
                Some(Request::Archive(page)) => self.on_page_end(page, payload).await,
                Some(request) => self.on_result(request, payload),
                None => {}
            },
            Iq::Error {
                id, from, error, ..
            } if self.is_our_server(from.as_ref()) => {
                if let Some(request) = self.requests.remove(&id) {
                    let what = match request {
                        Request::RosterFetch => "roster fetch".to_owned(),
                        Request::RosterSet(jid) => format!("roster change of {jid}"),
                        Request::Archive(page) => {
                            self.on_page_refused(page, error).await;
                            return;
                        }
                    };
                    tracing::warn!(%id, "{what} refused: {:?}", error.defined_condition);
                }
            }
            Iq::Set { ref payload, .. } if roster::is_roster(payload) => {
                match roster::push(&self.own, iq) {
                    Push::Accept {
                        ver,
                        changes,
                        reply,
                    } => {
                        match self.store.apply_roster_push(ver.as_deref(), &changes) {
                            Ok(()) => self.hub.emit(Event::RosterChanged),
                            Err(e) => tracing::error!("cannot store a roster push: {e}"),
                        }
                        let _ = self.link.send(reply).await;
                    }
                    Push::Reject(reply) => {
                        let _ = self.link.send(reply).await;
                    }
                }
            }
            iq => {
                if let Some(reply) = inbound::answer_iq(iq) {
                    let _ = self.link.send(reply).await;
                }
            }
        }
    }

    /// Results come from our server: no `from`, our bare or our full JID.
    fn is_our_server(&self, from: Option<&tokio_xmpp::jid::Jid>) -> bool {
        from.is_none_or(|f| f.to_bare() == self.own)
    }

    fn on_result(&mut self, request: Request, payload: Option<tokio_xmpp::minidom::Element>) {
        match request {
            Request::RosterFetch => match roster::fetched(payload) {
                Ok(None) => tracing::debug!("stored roster is current"),
                Ok(Some(roster::Fetched { ver, contacts })) => {
                    tracing::debug!(count = contacts.len(), ?ver, "roster fetched");
                    match self.store.replace_roster(ver.as_deref(), &contacts) {
                        Ok(()) => self.hub.emit(Event::RosterChanged),
                        Err(e) => tracing::error!("cannot store the roster: {e}"),
                    }
                }
                Err(e) => tracing::warn!("{e}"),
            },
            // The server pushes the change itself.
            Request::RosterSet(_) => {}
            // Handled by `on_page_end`.
            Request::Archive(_) => {}
        }
    }

    /// Starts catching up from our archive: after the newest archive id a
    /// previous catch-up reached, or the recent window on a first login.
    async fn start_catch_up(&mut self) {
        let page = match self.store.archive_last_id() {
            Ok(Some(last)) => Page::After(last),
            Ok(None) => Page::Latest(self.catch_up_first_login),
            Err(e) => {
                tracing::error!("cannot read the archive position: {e}");
                return;
            }
        };
        // Pages of a catch-up on an earlier stream will never be answered.
        self.requests
            .retain(|_, r| !matches!(r, Request::Archive(_)));
        self.catch_up = Some(CatchUp {
            queryid: uuid::Uuid::new_v4().to_string(),
            fetched: 0,
            page: Vec::new(),
        });
        if page == Page::Latest(0) {
            self.end_catch_up();
            return;
        }
        self.request_page(page).await;
    }

    async fn request_page(&mut self, page: Page) {
        let Some(c) = &self.catch_up else {
            return;
        };
        let id = uuid::Uuid::new_v4().to_string();
        tracing::debug!(%id, ?page, "asking our archive for a page");
        let iq = archive::query(&id, &c.queryid, &page);
        self.requests.insert(id, Request::Archive(page));
        let _ = self.link.send(iq).await;
    }

    /// One archived message, from a `<result/>`: stored (once) like a live
    /// one if our server sent it for our query; refused otherwise.
    fn on_archived(&mut self, msg: Message) {
        let Some(c) = self.catch_up.as_mut() else {
            tracing::warn!(from = ?msg.from, "dropped an archive result while not catching up");
            return;
        };
        let queryid = c.queryid.as_str();
        let Some(result) = archive::result(&self.own, msg, |q| q == queryid, Utc::now()) else {
            return;
        };
        c.fetched += 1;
        if !matches!(result.message, Archived::Skip) {
            c.page.push(result.message);
        }
    }

    /// Stores the messages of the page that just ended, in order, in one
    /// transaction (corrections apart: each applies to what came before
    /// it). `false` if the store failed: the page is fetched again later.
    fn store_page(&mut self) -> bool {
        let Some(c) = self.catch_up.as_mut() else {
            return true;
        };
        let page = std::mem::take(&mut c.page);
        let mut run: Vec<&Archived> = Vec::new();
        for item in &page {
            let correction = match item {
                Archived::Incoming(chat) => chat.replace.is_some(),
                Archived::Outgoing(copy) => copy.replace.is_some(),
                Archived::Skip => continue,
            };
            if !correction {
                run.push(item);
                continue;
            }
            if !self.store_run(&std::mem::take(&mut run)) {
                return false;
            }
            match item {
                // Its archive time, not the live ordering rule: an archived
                // message is older than what arrived live since.
                Archived::Incoming(chat) => {
                    if !self.store_chat(chat, chat.timestamp) {
                        return false;
                    }
                }
                Archived::Outgoing(copy) => self.store_outgoing_copy(copy),
                Archived::Skip => {}
            }
        }
        self.store_run(&run)
    }

    /// Stores archived messages that correct nothing in one transaction
    /// and announces the new ones.
    fn store_run(&self, run: &[&Archived]) -> bool {
        let froms: Vec<String> = run
            .iter()
            .map(|item| match item {
                Archived::Incoming(chat) => chat.from.to_bare().to_string(),
                _ => String::new(),
            })
            .collect();
        let items: Vec<PageItem<'_>> = run
            .iter()
            .zip(&froms)
            .filter_map(|(item, from)| match item {
                Archived::Incoming(chat) => Some(PageItem::Incoming(NewIncoming {
                    from,
                    remote_id: chat.remote_id.as_deref(),
                    origin_id: chat.origin_id.as_deref(),
                    stanza_id: chat.stanza_id.as_deref(),
                    body: &chat.body,
                    timestamp: chat.timestamp,
                    markable: chat.markable,
                })),
                Archived::Outgoing(copy) => Some(PageItem::OwnCopy(NewOutgoingCopy {
                    own_jid: self.own.as_str(),
                    to: copy.to.as_str(),
                    origin_id: copy.origin_id.as_deref(),
                    remote_id: copy.remote_id.as_deref(),
                    body: &copy.body,
                    timestamp: copy.timestamp,
                })),
                Archived::Skip => None,
            })
            .collect();
        match self.store.insert_page(&items) {
            Ok(stored) => {
                for m in stored.into_iter().flatten() {
                    self.hub.emit(Event::Message(m));
                }
                true
            }
            Err(e) => {
                tracing::error!(count = items.len(), "cannot store archived messages: {e}");
                false
            }
        }
    }

    /// A page ended (`<fin/>`): its messages are stored, so remember how
    /// far we got, then ask for the next page or stop.
    async fn on_page_end(&mut self, page: Page, payload: Option<tokio_xmpp::minidom::Element>) {
        if !self.store_page() {
            tracing::warn!("catch-up stopped: the store failed; the next session retries");
            self.end_catch_up();
            return;
        }
        let end = match archive::fin(payload) {
            Ok(end) => end,
            Err(e) => {
                tracing::warn!("{e}; catch-up stopped");
                self.end_catch_up();
                return;
            }
        };
        // An empty archive on a first login: next time, from its start.
        let first_empty = matches!(page, Page::Latest(_)) && end.last.is_none();
        if let Some(last) = end.last.as_deref().or(first_empty.then_some("")) {
            if let Err(e) = self.store.set_archive_last_id(last) {
                tracing::error!("cannot record the archive position: {e}");
            }
        }
        let next = match (&page, end.last) {
            // A first login only wants the recent window.
            (Page::Latest(_), _) => None,
            (_, _) if end.complete => None,
            // An empty page, or a server repeating itself: nothing after.
            (Page::After(after), Some(last)) if *after != last => Some(Page::After(last)),
            _ => None,
        };
        match next {
            Some(next) => {
                if let Some(c) = &self.catch_up {
                    self.hub.emit(Event::CatchUp {
                        fetched: c.fetched,
                        complete: false,
                    });
                }
                self.request_page(next).await;
            }
            None => self.end_catch_up(),
        }
    }

    /// The server refused a page. If the id we start after is gone from
    /// the archive (expired), the recent window replaces it.
    async fn on_page_refused(&mut self, page: Page, error: StanzaError) {
        tracing::warn!(
            ?page,
            "archive query refused: {:?}",
            error.defined_condition
        );
        if matches!(page, Page::After(_))
            && error.defined_condition == DefinedCondition::ItemNotFound
            && self.catch_up_first_login > 0
        {
            self.request_page(Page::Latest(self.catch_up_first_login))
                .await;
            return;
        }
        self.end_catch_up();
    }

    fn end_catch_up(&mut self) {
        if let Some(c) = self.catch_up.take() {
            tracing::debug!(fetched = c.fetched, "catch-up done");
            self.hub.emit(Event::CatchUp {
                fetched: c.fetched,
                complete: true,
            });
        }
    }

    /// Broadcasts our availability unless it is what we last sent.
    async fn send_presence(&mut self, want: OwnPresence) {
        if self.sent_presence.as_ref() == Some(&want) {
            return;
        }
        tracing::debug!(show = want.0.as_str(), "sending our presence");
        let _ = self
            .link
            .send(presence::ours(want.0, want.1.as_deref()))
            .await;
        self.sent_presence = Some(want);
    }

    /// Clears the stored presence; every contact shown available goes offline.
    fn forget_stale_presence(&self) {
        let stale = self.store.presences().unwrap_or_else(|e| {
            tracing::warn!("cannot read the stored presence: {e}");
            Vec::new()
        });
        if let Err(e) = self.store.clear_presence() {
            tracing::error!("cannot clear the stored presence: {e}");
            return;
        }
        for c in stale {
            self.hub.emit(Event::Presence {
                from: c.jid,
                show: None,
                status: None,
            });
        }
    }

    /// Stores a contact's resource coming or going; announces the contact
    /// if what the UI shows for it changed.
    fn on_availability(&self, update: Update) {
        let (Update::Available { from, .. } | Update::Unavailable { from, .. }) = &update;
        let from = from.as_str();
        let shown = |jid: &str| -> Result<(Option<Show>, Option<String>), StoreError> {
            Ok(self
                .store
                .presence(jid)?
                .map_or((None, None), |c| (c.show, c.status)))
        };
        let changed = (|| {
            let before = shown(from)?;
            match &update {
                Update::Available { resource, .. } => {
                    self.store
                        .set_presence(from, resource, chrono::Utc::now())?
                }
                Update::Unavailable { resource, .. } => {
                    self.store.remove_presence(from, resource.as_deref())?
                }
            }
            let after = shown(from)?;
            Ok::<_, StoreError>((before != after).then_some(after))
        })();
        match changed {
            Ok(Some((show, status))) => self.hub.emit(Event::Presence {
                from: from.to_owned(),
                show,
                status,
            }),
            Ok(None) => {}
            Err(e) => tracing::error!(%from, "cannot store a presence: {e}"),
        }
    }

    fn on_presence(&mut self, p: Presence) {
        if let Some(update) = presence::update(&self.own, &p) {
            self.on_availability(update);
            return;
        }
        let Some(from) = p.from.map(|f| f.to_bare()) else {
            return;
        };
        if from == self.own {
            return;
        }
        let pending = match p.type_ {
            PresenceType::Subscribe => true,
            // The requester withdrew.
            PresenceType::Unsubscribe => false,
            _ => return,
        };
        if let Err(e) = self.store.set_pending_in(from.as_str(), pending) {
            tracing::error!(%from, "cannot store a subscription request: {e}");
            return;
        }
        if pending {
            self.hub.emit(Event::SubscriptionRequest {
                from: from.to_string(),
            });
        }
        self.hub.emit(Event::RosterChanged);
    }

    async fn fetch_roster(&mut self) {
        let ver = self.store.roster_ver().unwrap_or_else(|e| {
            tracing::warn!("cannot read the roster version: {e}");
            None
        });
        let id = uuid::Uuid::new_v4().to_string();
        tracing::debug!(%id, ?ver, "fetching the roster");
        self.requests.insert(id.clone(), Request::RosterFetch);
        let _ = self.link.send(roster::fetch(&id, ver)).await;
    }

    async fn roster_set(
        &mut self,
        jid: BareJid,
        name: Option<String>,
        groups: Vec<String>,
        remove: bool,
    ) {
        let id = uuid::Uuid::new_v4().to_string();
        let iq = roster::set(&id, jid.clone(), name, groups, remove);
        self.requests.insert(id, Request::RosterSet(jid));
        let _ = self.link.send(iq).await;
    }

    async fn on_roster_command(&mut self, cmd: RosterCommand) {
        match cmd {
            RosterCommand::Add(jid, name) => {
                self.roster_set(jid.clone(), name, Vec::new(), false).await;
                let _ = self
                    .link
                    .send(roster::presence(jid, PresenceType::Subscribe))
                    .await;
            }
            RosterCommand::Approve(jid) => {
                let _ = self
                    .link
                    .send(roster::presence(jid.clone(), PresenceType::Subscribed))
                    .await;
                self.answered(&jid);
                // Permission both ways is what users mean by "accept".
                let subscribed = match self.store.contact(jid.as_str()) {
                    Ok(c) => c.is_some_and(|c| c.subscription.is_to() || c.ask),
                    Err(e) => {
                        tracing::warn!(%jid, "cannot read a contact: {e}");
                        false
                    }
                };
                if !subscribed {
                    let _ = self
                        .link
                        .send(roster::presence(jid, PresenceType::Subscribe))
                        .await;
                }
            }
            RosterCommand::Deny(jid) => {
                let _ = self
                    .link
                    .send(roster::presence(jid.clone(), PresenceType::Unsubscribed))
                    .await;
                self.answered(&jid);
            }
            RosterCommand::Update(jid, name, groups) => {
                self.roster_set(jid, name, groups, false).await
            }
            RosterCommand::Remove(jid) => self.roster_set(jid, None, Vec::new(), true).await,
        }
    }

    /// The user answered `jid`'s request.
    fn answered(&self, jid: &BareJid) {
        match self.store.set_pending_in(jid.as_str(), false) {
            Ok(()) => self.hub.emit(Event::RosterChanged),
            Err(e) => tracing::error!(%jid, "cannot record an answered request: {e}"),
        }
    }
}
