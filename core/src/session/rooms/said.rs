//! A room's messages as the room sends them: ours coming back (the
//! proof they got there) and everyone else's, stored once and in the
//! room's order.

use chrono::Utc;
use tokio_xmpp::jid::BareJid;
use tokio_xmpp::parsers::message::Message;

use super::Rooms;
use crate::model::Event;
use crate::muc::{self, RoomMessage, Said};
use crate::store::{CorrectionTarget, NewOutgoingCopy, NewRoomMessage};

impl Rooms {
    /// Whether `msg` is one of our rooms' own traffic (a groupchat
    /// message, an answer of its archive), not a private message or an
    /// error.
    pub(crate) fn owns(&self, msg: &Message) -> bool {
        muc::is_room_traffic(msg) && self.is_from(msg.from.as_ref())
    }

    /// A groupchat message, or an answer of a room's archive (see `owns`).
    pub(crate) fn on_message(&mut self, msg: Message) {
        if crate::archive::is_result(&msg) {
            return self.on_archived(msg);
        }
        let Some(room) = msg.from.as_ref().map(|f| f.to_bare()) else {
            return;
        };
        let Some(visit) = self.visits.get(&room) else {
            return;
        };
        let nick = visit.nick.clone();
        self.heard(&room);
        match muc::classify_message(&room, msg, Utc::now()) {
            Some(RoomMessage::Said(mut said)) => {
                self.in_order(&room, &mut said);
                if said.from.resource().as_str() == nick {
                    self.ours(&room, &said);
                } else {
                    self.theirs(&room, &said);
                }
                // Caught up, a live message leaves no gap behind it.
                let ready = crate::session::requests::is_joined(&self.ready, room.as_str());
                if let Some(id) = said.stanza_id.as_deref().filter(|_| ready) {
                    self.advance(&room, id, Some(said.timestamp));
                }
            }
            Some(RoomMessage::Subject(subject)) => {
                if let Err(e) = self.store.set_subject(room.as_str(), subject.as_deref()) {
                    tracing::warn!(%room, "cannot store the subject: {e}");
                }
                let room = room.to_string();
                self.hub.emit(Event::RoomSubject { room, subject });
            }
            None => {}
        }
    }

    /// Our own message as the room sent it to everyone: the proof it got
    /// there (delivered), or one our other device sent.
    pub(super) fn ours(&self, room: &BareJid, said: &Said) {
        // Ours from this device is already applied (unchanged), another
        // device's is news.
        if self.corrected(room, self.own.as_str(), said) {
            return;
        }
        let id = said.origin_id.as_deref().or(said.remote_id.as_deref());
        if let Some(id) = id {
            match self.store.mark_delivered(room.as_str(), id) {
                Ok(Some(m)) => {
                    self.keep_stanza_id(&m.id, said);
                    return self.hub.emit(Event::MessageState {
                        id: m.id,
                        conversation: m.conversation,
                        state: m.state,
                    });
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(%room, "cannot record a reflection: {e}"),
            }
        }
        let copy = NewOutgoingCopy {
            file_url: said.file_url.as_deref(),
            own_jid: self.own.as_str(),
            to: room.as_str(),
            origin_id: said.origin_id.as_deref(),
            remote_id: said.remote_id.as_deref(),
            body: &said.body,
            timestamp: said.timestamp,
        };
        match self.store.insert_outgoing_copy(copy) {
            Ok(Some(m)) => self.hub.emit(Event::Message(m)),
            Ok(None) => {}
            Err(e) => tracing::error!(%room, "cannot store our room message: {e}"),
        }
    }

    pub(super) fn theirs(&self, room: &BareJid, said: &Said) {
        let sender = said.from.to_string();
        if self.corrected(room, &sender, said) {
            return;
        }
        let nick = self.visits.get(room).map(|v| v.nick.as_str());
        let row = NewRoomMessage {
            file_url: said.file_url.as_deref(),
            mentions_me: nick.is_some_and(|nick| muc::mentions(&said.body, nick)),
            room: room.as_str(),
            sender: &sender,
            remote_id: said.remote_id.as_deref(),
            origin_id: said.origin_id.as_deref(),
            stanza_id: said.stanza_id.as_deref(),
            body: &said.body,
            timestamp: said.timestamp,
        };
        match self.store.insert_room_message(row) {
            Ok(Some(m)) => self.hub.emit(Event::Message(m)),
            Ok(None) => tracing::debug!(%room, "duplicate room message dropped"),
            Err(e) => tracing::error!(%room, "cannot store a room message: {e}"),
        }
    }

    /// Applies `said` if it corrects (XEP-0308) a stored message of
    /// `sender`'s (only theirs: one occupant cannot correct another's);
    /// false if it is not a correction, or of a message we do not have
    /// (then it is shown as a message).
    fn corrected(&self, room: &BareJid, sender: &str, said: &Said) -> bool {
        let Some(replaced) = &said.replace else {
            return false;
        };
        match self
            .store
            .apply_correction(room.as_str(), sender, replaced, &said.body)
        {
            Ok(Some(CorrectionTarget::Changed(m))) => {
                self.hub.emit(Event::MessageCorrected(*m));
                true
            }
            Ok(Some(CorrectionTarget::Unchanged)) => true,
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(%room, "cannot apply a correction: {e}");
                false
            }
        }
    }

    /// A room sends its messages in its order, but a stamped one (resent
    /// on a resumed stream, or history) carries the room's time, while one
    /// that came live is stored at our receipt time, a little later: the
    /// stamped one could sort before a message that came before it. So
    /// each sorts no earlier than the one before it on this visit.
    fn in_order(&mut self, room: &BareJid, said: &mut Said) {
        if let Some(visit) = self.visits.get_mut(room) {
            if let Some(floor) = visit.floor {
                said.timestamp = said.timestamp.max(floor);
            }
            visit.floor = Some(said.timestamp);
        }
    }
}
