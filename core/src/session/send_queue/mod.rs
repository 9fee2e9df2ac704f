//! The send queue of one session: what must reach the server exactly once
//! (outbox messages, our corrections, receipts and read markers) is pushed
//! from here, in order, and followed until the server acks it (the protocol
//! is in [`crate::outbox`]'s module doc). All of it is persisted first: an
//! app kill or a lost session loses none of it, and only what was not
//! acked goes out again.
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
use crate::store::{PendingStanza, Store};
use quarantine::Quarantine;

/// A stanza to push, and the queue entry (message, correction or stanza id) it
/// belongs to: the session sends it, then calls [`SendQueue::track`].
#[derive(Debug)]
pub(crate) struct Push {
    pub id: String,
    pub stanza: Message,
}

/// What a pushed entry is, which says where its ack is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An outbox message (by message id): its delivery state moves on.
    Message,
    /// Our correction of a message (by correction id).
    Correction,
    /// A receipt or read marker (by stanza id).
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
}

/// Most times one entry is pushed again on one session after being lost.
const MAX_RESENDS_PER_SESSION: u32 = 3;

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
        }
    }

    /// The server forgot whatever it had not acked: everything in flight
    /// goes again, in outbox order, ahead of what was queued since. `acks`:
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

    /// Everything waiting (or only `only`): receipts and markers, then the
    /// outbox in order, then our pending corrections (a correction follows
    /// the message it corrects). Call only while online.
    pub(crate) fn outbox(&mut self, only: Option<&HashSet<String>>) -> Vec<Push> {
        let mut pushes = self.stanzas(only);
        let entries = match self.store.outbox() {
            Ok(entries) => entries,
            Err(e) => {
                tracing::error!("cannot read the outbox: {e}");
                return pushes;
            }
        };
        for msg in entries {
            if only.is_none_or(|set| set.contains(&msg.id)) {
                pushes.extend(self.message(msg));
            }
        }
        pushes.extend(self.corrections(only));
        pushes
    }

    /// Waiting receipts and markers (all, or only those in `only`) not
    /// already in flight, oldest first. Call only while online.
    pub(crate) fn stanzas(&mut self, only: Option<&HashSet<String>>) -> Vec<Push> {
        let pending = match self.store.pending_stanzas() {
            Ok(pending) => pending,
            Err(e) => {
                tracing::error!("cannot read waiting receipts and markers: {e}");
                return Vec::new();
            }
        };
        pending
            .into_iter()
            .filter(|p| only.is_none_or(|set| set.contains(&p.id)))
            .filter_map(|p| self.stanza(p))
            .collect()
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
            Ok(Some(pending)) => self.stanza(pending),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(%to, "cannot queue a receipt: {e}");
                None
            }
        }
    }

    fn stanza(&mut self, pending: PendingStanza) -> Option<Push> {
        if self.in_flight.contains_key(&pending.id) {
            return None;
        }
        let Some(stanza) = outbox::pending_for(&pending) else {
            tracing::warn!(
                id = pending.id,
                "a waiting stanza has no valid recipient; dropped"
            );
            let _ = self.store.pending_acked(&pending.id);
            return None;
        };
        self.in_flight.insert(pending.id.clone(), Kind::Stanza);
        Some(Push {
            id: pending.id,
            stanza,
        })
    }

    /// Our pending corrections (all, or only those in `only`) not already in
    /// flight. Call only while online.
    pub(crate) fn corrections(&mut self, only: Option<&HashSet<String>>) -> Vec<Push> {
        let pending = match self.store.pending_corrections() {
            Ok(pending) => pending,
            Err(e) => {
                tracing::error!("cannot read pending corrections: {e}");
                return Vec::new();
            }
        };
        let mut pushes = Vec::new();
        for (correction_id, msg) in pending {
            if self.in_flight.contains_key(&correction_id)
                || only.is_some_and(|set| !set.contains(&correction_id))
            {
                continue;
            }
            let Ok(to) = msg.conversation.parse::<BareJid>() else {
                continue;
            };
            let groupchat = self.is_room(&msg.id, to.as_str());
            if groupchat && !is_joined(&self.rooms, to.as_str()) {
                // Like a message: it waits until we are in the room.
                continue;
            }
            let stanza = outbox::correction_for(&msg, &correction_id, to, groupchat);
            self.in_flight
                .insert(correction_id.clone(), Kind::Correction);
            pushes.push(Push {
                id: correction_id,
                stanza,
            });
        }
        pushes
    }

    /// Whether `to`, the recipient of message `id`, is a room (its
    /// messages go as groupchat, once we are in it).
    fn is_room(&self, id: &str, to: &str) -> bool {
        self.store.is_room(to).unwrap_or_else(|e| {
            tracing::warn!(id, "cannot tell whether the recipient is a room: {e}");
            false
        })
    }

    /// The outbox entry `id`, unless it is in flight or no longer pending.
    /// Call only while online: pushed offline, entries would sit in the
    /// stream's queue and go out on a fresh session ahead of the older ones
    /// it lost, which [`Self::outbox`] pushes again in outbox order.
    pub(crate) fn entry(&mut self, id: &str) -> Option<Push> {
        if self.in_flight.contains_key(id) {
            return None;
        }
        match self.store.message(id) {
            Ok(Some(msg)) => self.message(msg),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(id, "cannot read an outbox message: {e}");
                None
            }
        }
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
            // session pushes the outbox before the rejoin): it waits, and
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
    /// them) go again, in their place. Then push the outbox.
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

    /// Records tracker reports; returns the entries that may not have
    /// reached the server (the caller pushes them again, in order). Message
    /// states of the whole batch are stored in one transaction: acks come
    /// in bursts, and each one not yet on disk when the app is killed is a
    /// message sent twice.
    pub(crate) fn on_reports(&mut self, reports: impl IntoIterator<Item = Report>) -> Vec<String> {
        let mut lost = Vec::new();
        let mut states: Vec<(String, DeliveryState)> = Vec::new();
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
            let acked = match (outcome, kind) {
                // No stream management: written is all we will ever know.
                (Outcome::Lost, _) if self.written.remove(&id) => self.settle_unacked(&id, kind),
                (Outcome::Lost, _) if self.suspect(&id) => continue,
                (Outcome::Lost, _) => {
                    let resent = self.resent.entry(id.clone()).or_insert(0);
                    *resent += 1;
                    if *resent > MAX_RESENDS_PER_SESSION {
                        tracing::warn!(%id, "lost again and again: it waits for the next session");
                        continue;
                    }
                    lost.push(id);
                    continue;
                }
                (Outcome::Acked, Kind::Message) => {
                    self.cleared(&id);
                    self.acked_here.insert(id.clone());
                    states.push((id, DeliveryState::Acked));
                    continue;
                }
                (Outcome::Acked, Kind::Correction) => self.store.correction_acked(&id),
                (Outcome::Acked, Kind::Stanza) => self.store.pending_acked(&id),
            };
            if let Err(e) = acked {
                tracing::error!(%id, "cannot record an ack: {e}");
            }
        }
        if states.is_empty() {
            return lost;
        }
        let changes: Vec<(&str, DeliveryState)> =
            states.iter().map(|(id, s)| (id.as_str(), *s)).collect();
        match self.store.advance_states(&changes) {
            Ok(changed) => {
                for m in changed {
                    self.announce(m);
                }
            }
            Err(e) => tracing::error!(count = changes.len(), "cannot record message states: {e}"),
        }
        lost
    }

    /// An entry written on a session without acks leaves the queue: a
    /// message stays `Sent` (out of the outbox), a correction, receipt or
    /// marker counts as done.
    fn settle_unacked(&self, id: &str, kind: Kind) -> Result<(), crate::store::StoreError> {
        match kind {
            Kind::Message => self.store.release_unacked(id).map(drop),
            Kind::Correction => self.store.correction_acked(id),
            Kind::Stanza => self.store.pending_acked(id),
        }
    }

    /// Fails our message `id` if the bounce comes from its recipient (or the
    /// recipient's server); a stranger cannot fail our messages.
    pub(crate) fn on_bounce(&mut self, from: BareJid, id: &str, reason: &str) {
        let Ok(Some(msg)) = self.store.message(id) else {
            return;
        };
        let recipient_domain = msg.conversation.rsplit('@').next().unwrap_or_default();
        let from_recipient = from.as_str() == msg.conversation || from.as_str() == recipient_domain;
        if msg.direction != Direction::Outgoing || !from_recipient {
            return;
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
            match self.store.requeue(id) {
                Ok(Some(m)) => self.announce(m),
                Ok(None) => {}
                Err(e) => tracing::error!(id, "cannot requeue a bounced message: {e}"),
            }
            return;
        }
        tracing::warn!(id, %from, "message bounced: {reason}");
        self.fail(id, reason);
    }

    fn fail(&self, id: &str, reason: &str) {
        match self.store.fail(id, reason) {
            Ok(Some(m)) => self.announce(m),
            Ok(None) => {}
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
