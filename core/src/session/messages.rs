//! A message that is neither a room's own traffic nor an answer of our
//! archive: what it means, stored and announced once by the handler it
//! concerns.

use tokio_xmpp::parsers::message::{Message, MessageType};

use super::send_queue::Push;
use super::Running;
use crate::inbound::{self, Inbound};
use crate::model::Event;

impl Running {
    /// Stores and announces what a message means; returns the receipt to
    /// push, if it asks for one.
    pub(super) fn ingest_message(&mut self, msg: Message) -> Option<Push> {
        // An invitation is no chat message, though it may carry a body.
        if self.room_actions.on_invitation(&msg) {
            return None;
        }
        if msg.type_ == MessageType::Error && self.room_actions.on_error(&msg) {
            return None;
        }
        match inbound::classify_message(&self.own, msg, chrono::Utc::now()) {
            // A private message from a room's occupant: a conversation of
            // its own, keyed by the occupant's full JID.
            Inbound::Chat(chat) if self.rooms.is_from(Some(&chat.from)) => {
                self.ingest.private(&chat);
            }
            Inbound::Chat(chat) => {
                // Confirm only once it is stored (or already was); the
                // receipt waits in the store until the server has it.
                if self.ingest.live(&chat) && chat.wants_receipt {
                    if let Some(id) = chat.remote_id.or(chat.origin_id) {
                        return self.queue.receipt(&chat.from, &id);
                    }
                }
            }
            // The device it was addressed to sends the receipt.
            Inbound::CarbonReceived(chat) => {
                self.ingest.live(&chat);
            }
            Inbound::CarbonSent(copy) => self.ingest.own_copy(&copy),
            Inbound::Receipt { from, id } => self.ingest.receipt(&self.peer_of(&from), &id),
            Inbound::Bounce { from, id, reason } => {
                return self.queue.on_bounce(from, &id, &reason)
            }
            Inbound::Displayed { from, id } => self.ingest.displayed(&self.peer_of(&from), &id),
            Inbound::ReadElsewhere { with } => self.ingest.read_elsewhere(&with),
            Inbound::Typing { from, state } => self.hub.emit(Event::Typing {
                from: from.to_string(),
                state,
            }),
            Inbound::Ignore => {}
        }
        None
    }

    /// The conversation a receipt or marker from `from` is about: a
    /// peer's bare JID, or for an occupant of one of our rooms its full
    /// JID (its private conversation), so one occupant cannot confirm or
    /// mark what was sent to another.
    fn peer_of(&self, from: &tokio_xmpp::jid::Jid) -> String {
        let bare = from.to_bare();
        if self.rooms.has(&bare) {
            from.to_string()
        } else {
            bare.to_string()
        }
    }
}
