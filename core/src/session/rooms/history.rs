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
    /// After a rejoin, the room's archive after the newest stored message
    /// of it: legacy history is capped (Prosody: 20 messages), the archive
    /// is not. A first join has nothing to page after.
    pub(super) fn catch_up(&mut self, room: &BareJid) -> Option<Out> {
        let after = self.store.last_room_stanza_id(room.as_str());
        let since = self.store.room_joined_at(room.as_str());
        let queryid = uuid::Uuid::new_v4().to_string();
        let query: Box<dyn FnOnce(&str) -> Iq> = match (after, since) {
            (Ok(Some(after)), _) => {
                let (room, queryid) = (room.clone(), queryid.clone());
                Box::new(move |id| muc::archive_query(&room, id, &queryid, &after))
            }
            // In before, but nothing stored carries the room's stanza-id
            // (we only spoke, or heard nothing): from when we entered.
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
                Some(Out::ask(Request::RoomArchive(room.clone()), |id| {
                    muc::archive_query(room, id, &queryid, &after)
                }))
            }
            Ok(_) => {
                tracing::debug!(%room, "room caught up");
                self.catching_up.remove(room);
                None
            }
            Err(e) => {
                tracing::warn!(%room, "room archive: {e}");
                self.catching_up.remove(room);
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
}
