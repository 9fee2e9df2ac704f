//! The send queue of one session: what must reach the server exactly once
//! (our messages and corrections, receipts and read markers) is pushed from
//! here, in the order it was queued, and followed until the server acks it
//! (the protocol is in [`crate::outbox`]'s module doc). All of it is
//! persisted first, in one list (`store/send_queue.rs`): an app kill or a
//! lost session loses none of it, and only what was not acked goes out
//! again. An item that waits on another is held until that one is acked.
//!
//! It decides what to push and records what happened; the session does the
//! pushing ([`Push`]) and hands back each stanza's [`Delivery`], so this
//! file runs in unit tests without a link.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::parsers::message::Message;

use super::requests::{is_joined, Joined};
use crate::connection::{Delivery, Outcome};
use crate::events::EventHub;
use crate::model::{DeliveryState, Direction, Event, Message as Stored};
use crate::outbox::{self, Progress, Report};
use crate::store::{Item, Queued, Store};
use quarantine::Quarantine;

/// A stanza to push, and the id of the queue item it belongs to: the
/// session sends it, then calls [`SendQueue::track`].
#[derive(Debug)]
pub(crate) struct Push {
    pub id: String,
    pub stanza: Message,
}

/// What a pushed item is, which says what its ack changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Our message: its delivery state moves on.
    Message,
    /// A correction, receipt or marker: it only leaves the queue.
    Stanza,
}

pub(crate) struct SendQueue {
    store: Arc<Store>,
    hub: Arc<EventHub>,
    /// Entries pushed into the stream whose fate is not known yet.
    in_flight: HashMap<String, Kind>,
    progress_tx: mpsc::UnboundedSender<Report>,
    /// Counts fresh sessions. A fresh session lost everything in flight on
    /// the one before; reports about pushes made on it are stale.
    generation: u64,
    /// Whether the server acks on this session (stream management). Without
    /// it every written stanza comes back "lost" at once: it is settled as
    /// written instead of resent forever.
    acks: bool,
    /// Entries written on this session (kept only when it has no acks).
    written: HashSet<String>,
    /// The rooms we are in and caught up with (see `message`).
    rooms: Joined,
    /// Messages acked on this session: a room's echo of them may still be
    /// on its way (see `room_settled`).
    acked_here: HashSet<String>,
    /// Room messages a room bounced (we were not in it): pushed again once
    /// we are, even if a late ack of the bounced copy marked them acked.
    requeued: HashSet<String>,
    /// The largest stanza the server accepts (XEP-0478), if it said.
    max_bytes: Option<usize>,
    /// How often each entry was pushed again on this session: a stanza the
    /// server keeps refusing waits for the next session instead of looping.
    resent: HashMap<String, u32>,
    /// Messages that kill the sessions they go out on.
    quarantine: Quarantine,
    /// Items not pushed because what they wait on was still queued: looked
    /// at again when something leaves the queue (see [`Self::released`]).
    held: HashSet<String>,
}

/// Most times one entry is pushed again on one session after being lost.
const MAX_RESENDS_PER_SESSION: u32 = 3;

/// How a bounce reads when our server could not pass our message on to
/// the recipient's: the link between them was cut with the message on it
/// (`remote-server-timeout`), or while it was being set up (Prosody then
/// says `remote-server-not-found`, "Server-to-server connection failed:
/// closed", as for a server that is down). Worth a few quick resends; a
/// server that is really down fails the message after them, and the user
/// can retry it.
const LINK_BETWEEN_SERVERS_CUT: [&str; 2] = ["RemoteServerTimeout", "RemoteServerNotFound"];

impl SendQueue {
    /// A queue whose trackers report to `progress_tx` (the session feeds
    /// those reports back to [`Self::on_reports`]).
    /// Shares the set of rooms we are in: their messages wait until then.
    pub(crate) fn with_rooms(mut self, rooms: Joined) -> Self {
        self.rooms = rooms;
        self
    }

    pub(crate) fn new(
        store: Arc<Store>,
        hub: Arc<EventHub>,
        progress_tx: mpsc::UnboundedSender<Report>,
    ) -> Self {
        Self {
            store,
            hub,
            in_flight: HashMap::new(),
            progress_tx,
            generation: 0,
            acks: true,
            max_bytes: None,
            written: HashSet::new(),
            rooms: Joined::default(),
            requeued: HashSet::new(),
            acked_here: HashSet::new(),
            resent: HashMap::new(),
            quarantine: Quarantine::default(),
            held: HashSet::new(),
        }
    }

    /// The server forgot whatever it had not acked: everything in flight
    /// goes again, in queue order, ahead of what was queued since. `acks`:
    /// whether this session has stream management.
    pub(crate) fn fresh_session(&mut self, acks: bool, max_bytes: Option<u32>) {
        self.blame();
        self.generation += 1;
        self.in_flight.clear();
        self.acks = acks;
        self.max_bytes = max_bytes.map(|b| b as usize);
        self.written.clear();
        self.resent.clear();
        self.acked_here.clear();
    }

    /// Whether nothing pushed is waiting for its ack.
    pub(crate) fn settled(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// Follows one pushed stanza until it is acked or lost.
    pub(crate) fn track(&self, id: String, delivery: Delivery) {
        outbox::track(self.generation, id, delivery, self.progress_tx.clone());
    }

    /// Everything queued (or only the items in `only`) not in flight nor
    /// held, in queue order. Call only while online.
    pub(crate) fn pending(&mut self, only: Option<&HashSet<String>>) -> Vec<Push> {
        let queued = match self.store.send_queue() {
            Ok(queued) => queued,
            Err(e) => {
                tracing::error!("cannot read the send queue: {e}");
                return Vec::new();
            }
        };
        queued
            .into_iter()
            .filter(|q| only.is_none_or(|set| set.contains(&q.id)))
            .filter_map(|q| self.push_for(q))
            .collect()
    }

    /// The queue item `id`, unless it is in flight, held or gone. Call only
    /// while online: pushed offline, items would sit in the stream's queue
    /// and go out on a fresh session ahead of the older ones it lost, which
    /// [`Self::pending`] pushes again in queue order.
    pub(crate) fn entry(&mut self, id: &str) -> Option<Push> {
        if self.in_flight.contains_key(id) {
            return None;
        }
        match self.store.queued(id) {
            Ok(queued) => queued.and_then(|q| self.push_for(q)),
            Err(e) => {
                tracing::error!(id, "cannot read a queued item: {e}");
                None
            }
        }
    }

    /// Held items whose wait is over (what they waited on left the queue):
    /// call after acks and after stanzas that can settle a message (a
    /// receipt, a room's echo). Call only while online.
    pub(crate) fn released(&mut self) -> Vec<Push> {
        if self.held.is_empty() {
            return Vec::new();
        }
        let held = std::mem::take(&mut self.held);
        self.pending(Some(&held))
    }

    /// Whether some item waits on another (see [`Self::released`]).
    pub(crate) fn holds(&self) -> bool {
        !self.held.is_empty()
    }

    /// Queues (persists) a receipt for `about` to its sender `to`; the push
    /// to make now, or `None` if that receipt already waits. Call only while
    /// online (a message just arrived).
    pub(crate) fn receipt(&mut self, to: &Jid, about: &str) -> Option<Push> {
        let conversation = to.to_bare();
        match self
            .store
            .queue_receipt(to.as_str(), conversation.as_str(), about)
        {
            Ok(Some(queued)) => self.push_for(queued),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(%to, "cannot queue a receipt: {e}");
                None
            }
        }
    }

    /// The push for queue item `q`, unless it is in flight, waits on an
    /// item still queued (it is held), or cannot go now.
    fn push_for(&mut self, q: Queued) -> Option<Push> {
        if self.in_flight.contains_key(&q.id) {
            return None;
        }
        if q.waits_for.is_some() {
            self.held.insert(q.id);
            return None;
        }
        self.held.remove(&q.id);
        match q.item {
            Item::Message(msg) => self.message(msg),
            Item::Correction(msg) => self.correction(q.id, msg),
            item => self.stanza(q.id, &item),
        }
    }

    fn stanza(&mut self, id: String, item: &Item) -> Option<Push> {
        let Some(stanza) = outbox::pending_for(&id, item) else {
            tracing::warn!(id, "a queued stanza has no valid recipient; dropped");
            let reason = "its recipient is not a JID";
            match self.store.drop_queued(&id, reason) {
                Ok(failed) => failed.into_iter().for_each(|m| self.announce(m)),
                Err(e) => tracing::error!(id, "cannot drop a queued stanza: {e}"),
            }
            return None;
        };
        self.in_flight.insert(id.clone(), Kind::Stanza);
        Some(Push { id, stanza })
    }

    /// Our correction `id` of `msg`, unless it must wait (to a room we
    /// are not in).
    fn correction(&mut self, id: String, msg: Stored) -> Option<Push> {
        let to = msg.conversation.parse::<BareJid>().ok()?;
        let groupchat = self.is_room(&msg.id, to.as_str());
        if groupchat && !is_joined(&self.rooms, to.as_str()) {
            // Like a message: it waits until we are in the room.
            return None;
        }
        let stanza = outbox::correction_for(&msg, &id, to, groupchat);
        self.in_flight.insert(id.clone(), Kind::Stanza);
        Some(Push { id, stanza })
    }

    /// Whether `to`, the recipient of message `id`, is a room (its
    /// messages go as groupchat, once we are in it).
    fn is_room(&self, id: &str, to: &str) -> bool {
        self.store.is_room(to).unwrap_or_else(|e| {
            tracing::warn!(id, "cannot tell whether the recipient is a room: {e}");
            false
        })
    }

    /// The push for stored message `msg`, unless it is in flight or no
    /// longer pending.
    fn message(&mut self, msg: Stored) -> Option<Push> {
        let bounced = self.requeued.contains(&msg.id) && msg.state == DeliveryState::Acked;
        if self.in_flight.contains_key(&msg.id)
            || !(bounced || matches!(msg.state, DeliveryState::Queued | DeliveryState::Sent))
        {
            return None;
        }
        let to: Jid = match msg.conversation.parse() {
            Ok(to) => to,
            Err(e) => {
                // Validated by send(); only a corrupted row gets here.
                let reason = format!("stored recipient {:?} is not a JID: {e}", msg.conversation);
                self.fail(&msg.id, &reason);
                return None;
            }
        };
        let groupchat = to.resource().is_none() && self.is_room(&msg.id, to.as_str());
        if groupchat && !is_joined(&self.rooms, to.as_str()) {
            // A room bounces what comes before we are in it (a fresh
            // session pushes the queue before the rejoin): it waits, and
            // the session pushes it once we are in.
            return None;
        }
        if let Some(reason) = self.refused(msg.body.len()) {
            self.fail(&msg.id, &reason);
            return None;
        }
        self.requeued.remove(&msg.id);
        if let Err(e) = self.store.note_attempt(&msg.id) {
            tracing::warn!(id = msg.id, "cannot count a send attempt: {e}");
        }
        let stanza = outbox::stanza_for(&msg, to, groupchat);
        if let Some(limit) = self.max_bytes {
            let size = String::from(&tokio_xmpp::minidom::Element::from(stanza.clone())).len();
            if size > limit {
                // Pushed, it would close the stream, and the next session
                // would push it first again: a loop that blocks the queue.
                let reason =
                    format!("too large for this server: {size} bytes, it accepts at most {limit}");
                self.fail(&msg.id, &reason);
                return None;
            }
        }
        self.in_flight.insert(msg.id.clone(), Kind::Message);
        self.pushed(&msg.id);
        Some(Push { stanza, id: msg.id })
    }

    /// We are in `room` again and caught up with its archive: our messages
    /// to it that a server acked on an earlier session but the room never
    /// sent back (it had dropped us by then; its archive would have had
    /// them) go again, in their place. Then push the queue.
    pub(crate) fn room_settled(&mut self, room: &str) {
        let entries = match self.store.outbox() {
            Ok(entries) => entries,
            Err(e) => {
                tracing::error!(room, "cannot read the outbox: {e}");
                return;
            }
        };
        let unechoed: Vec<String> = entries
            .into_iter()
            .filter(|m| m.conversation == room && m.state == DeliveryState::Acked)
            .filter(|m| !self.acked_here.contains(&m.id) && !self.in_flight.contains_key(&m.id))
            .map(|m| m.id)
            .collect();
        if !unechoed.is_empty() {
            tracing::info!(
                room,
                count = unechoed.len(),
                "the room never sent these back: they go again"
            );
        }
        self.requeued.extend(unechoed);
    }

    /// Records tracker reports; returns the items that may not have
    /// reached the server (the caller pushes them again, in order, then
    /// [`Self::released`]). The whole batch is stored in one transaction:
    /// acks come in bursts, and each one not yet on disk when the app is
    /// killed is a stanza sent twice.
    pub(crate) fn on_reports(&mut self, reports: impl IntoIterator<Item = Report>) -> Vec<String> {
        let mut lost = Vec::new();
        let mut states: Vec<(String, DeliveryState)> = Vec::new();
        // Items that leave the queue without a state change.
        let mut done: Vec<String> = Vec::new();
        for (generation, id, progress) in reports {
            if generation != self.generation {
                // Pushed on a session the server forgot; already pushed again.
                continue;
            }
            let kind = self.in_flight.get(&id).copied().unwrap_or(Kind::Message);
            let outcome = match progress {
                Progress::Sent => {
                    if !self.acks {
                        self.written.insert(id.clone());
                    }
                    if kind == Kind::Message {
                        states.push((id, DeliveryState::Sent));
                    }
                    continue;
                }
                Progress::Done(outcome) => outcome,
            };
            self.in_flight.remove(&id);
            match (outcome, kind) {
                // No stream management: written is all we will ever know. A
                // message stays `Sent` (out of the queue), anything else
                // counts as done.
                (Outcome::Lost, _) if self.written.remove(&id) => done.push(id),
                (Outcome::Lost, _) if self.suspect(&id) => {}
                (Outcome::Lost, _) => {
                    let resent = self.resent.entry(id.clone()).or_insert(0);
                    *resent += 1;
                    if *resent > MAX_RESENDS_PER_SESSION {
                        tracing::warn!(%id, "lost again and again: it waits for the next session");
                    } else {
                        lost.push(id);
                    }
                }
                (Outcome::Acked, Kind::Message) => {
                    self.cleared(&id);
                    self.acked_here.insert(id.clone());
                    states.push((id, DeliveryState::Acked));
                }
                (Outcome::Acked, Kind::Stanza) => done.push(id),
            }
        }
        if !states.is_empty() || !done.is_empty() {
            self.record(&states, &done);
        }
        lost
    }

    fn record(&self, states: &[(String, DeliveryState)], done: &[String]) {
        let states: Vec<(&str, DeliveryState)> =
            states.iter().map(|(id, s)| (id.as_str(), *s)).collect();
        let done: Vec<&str> = done.iter().map(String::as_str).collect();
        match self.store.record_progress(&states, &done) {
            Ok(changed) => changed.into_iter().for_each(|m| self.announce(m)),
            Err(e) => tracing::error!(count = states.len() + done.len(), "cannot record acks: {e}"),
        }
    }

    /// Fails our message `id` if the bounce comes from its recipient (or the
    /// recipient's server); a stranger cannot fail our messages.
    /// A bounce of our message `id` from `from`: it fails with `reason`,
    /// or goes again (the push to make now) when the cause passes (a room
    /// we were not in yet, a cut link between the servers).
    pub(crate) fn on_bounce(&mut self, from: BareJid, id: &str, reason: &str) -> Option<Push> {
        let Ok(Some(msg)) = self.store.message(id) else {
            return None;
        };
        let recipient_domain = msg.conversation.rsplit('@').next().unwrap_or_default();
        let from_recipient = from.as_str() == msg.conversation || from.as_str() == recipient_domain;
        if msg.direction != Direction::Outgoing || !from_recipient {
            return None;
        }
        if msg.state != DeliveryState::Delivered
            && self.store.is_room(&msg.conversation).unwrap_or(false)
            && reason.starts_with("NotAcceptable")
        {
            // A room refuses what comes while we are not in it (a stream
            // flushed stale stanzas onto a fresh session before the
            // rejoin): it goes again, in its place, once we are in.
            tracing::info!(id, %from, "the room bounced a message sent before we were in it; it waits");
            self.in_flight.remove(id);
            self.requeued.insert(id.to_owned());
            self.requeue(id);
            return None;
        }
        let cut = LINK_BETWEEN_SERVERS_CUT
            .iter()
            .any(|c| reason.starts_with(c));
        if cut && self.resend_allowed(id) {
            // Our server lost its link to the recipient's with the message
            // on it (sent or not): it goes again, with its id, so a copy
            // that got through is not shown twice.
            tracing::info!(id, %from, "the link to the recipient's server was cut: sent again");
            self.requeue(id);
            return self.entry(id);
        }
        tracing::warn!(id, %from, "message bounced: {reason}");
        self.fail(id, reason);
        None
    }

    /// Puts bounced message `id` back in the queue, pushed again even if a
    /// late ack of the bounced copy marks it acked.
    fn requeue(&mut self, id: &str) {
        self.in_flight.remove(id);
        self.requeued.insert(id.to_owned());
        match self.store.requeue(id) {
            Ok(Some(m)) => self.announce(m),
            Ok(None) => {}
            Err(e) => tracing::error!(id, "cannot requeue a bounced message: {e}"),
        }
    }

    /// Whether `id` may be pushed once more on this session.
    fn resend_allowed(&mut self, id: &str) -> bool {
        let resent = self.resent.entry(id.to_owned()).or_insert(0);
        *resent += 1;
        *resent <= MAX_RESENDS_PER_SESSION
    }

    /// Fails our message `id`, and what waited on it.
    fn fail(&self, id: &str, reason: &str) {
        match self.store.fail_all(id, reason) {
            Ok(failed) => failed.into_iter().for_each(|m| self.announce(m)),
            Err(e) => tracing::error!(id, "cannot record a failed message: {e}"),
        }
    }

    fn announce(&self, m: Stored) {
        self.hub.emit(Event::MessageState {
            id: m.id,
            conversation: m.conversation,
            state: m.state,
        });
    }
}

mod quarantine;
#[cfg(test)]
mod tests;
