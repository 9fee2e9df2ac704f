//! A room's history after a rejoin: its archive (XEP-0313 on the room
//! JID), paged from the newest message we stored of it.

use chrono::Utc;
use tokio_xmpp::jid::BareJid;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::message::Message;

use super::Rooms;
use crate::muc::{self, RoomMessage};
use crate::session::requests::{Out, Request};

impl Rooms {
    /// After a rejoin, the room's archive after our position in it (the
    /// last message with no gap before it, see `store::rooms`): legacy
    /// history is capped (Prosody: 20 messages), the archive is not. A
    /// first join has nothing to page after.
    pub(super) fn catch_up(&mut self, room: &BareJid) -> Option<Out> {
        let after = self.store.room_position(room.as_str());
        let since = self.store.room_joined_at(room.as_str());
        let queryid = uuid::Uuid::new_v4().to_string();
        let query: Box<dyn FnOnce(&str) -> Iq> = match (after, since) {
            (Ok(Some(after)), _) => {
                let (room, queryid) = (room.clone(), queryid.clone());
                Box::new(move |id| muc::archive_query(&room, id, &queryid, &after))
            }
            // In before, but no position yet (we only spoke, heard
            // nothing, or never finished a catch-up): from when we first
            // entered.
            (Ok(None), Ok(Some(start))) => {
                let (room, queryid) = (room.clone(), queryid.clone());
                Box::new(move |id| muc::archive_query_since(&room, id, &queryid, start))
            }
            (Ok(None), Ok(None)) => return None,
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(%room, "cannot read the room's position: {e}");
                return None;
            }
        };
        self.catching_up.insert(room.clone(), queryid);
        Some(Out::ask(Request::RoomArchive(room.clone()), query))
    }

    pub(super) fn on_archive_page(
        &mut self,
        room: &BareJid,
        payload: Option<tokio_xmpp::minidom::Element>,
    ) -> Option<Out> {
        let queryid = self.catching_up.get(room)?.clone();
        match crate::archive::fin(payload) {
            Ok(end) if !end.complete => {
                let after = end.last?;
                // The page is stored (archived messages are handled as they
                // come, before their page's end).
                self.advance(room, &after);
                Some(Out::ask(Request::RoomArchive(room.clone()), |id| {
                    muc::archive_query(room, id, &queryid, &after)
                }))
            }
            Ok(end) => {
                if let Some(last) = &end.last {
                    self.advance(room, last);
                }
                tracing::debug!(%room, "room caught up");
                self.catching_up.remove(room);
                self.settle(room);
                None
            }
            Err(e) => {
                tracing::warn!(%room, "room archive: {e}");
                self.catching_up.remove(room);
                self.settle(room);
                None
            }
        }
    }

    /// A message of a room's archive, if it answers our current query.
    pub(super) fn on_archived(&mut self, msg: Message) {
        let Some(room) = msg.from.as_ref().map(|f| f.to_bare()) else {
            return;
        };
        let (Some(queryid), Some(visit)) = (self.catching_up.get(&room), self.visits.get(&room))
        else {
            return;
        };
        let nick = visit.nick.clone();
        if let Some(RoomMessage::Said(said)) = muc::archived(&room, msg, queryid, Utc::now()) {
            if said.from.resource().as_str() == nick {
                self.ours(&room, &said);
            } else {
                self.theirs(&room, &said);
            }
        }
    }

    /// Everything of `room` up to `stanza_id` is stored.
    pub(super) fn advance(&self, room: &BareJid, stanza_id: &str) {
        if let Err(e) = self.store.set_room_position(room.as_str(), stanza_id) {
            tracing::warn!(%room, "cannot record the room's position: {e}");
        }
    }
}
