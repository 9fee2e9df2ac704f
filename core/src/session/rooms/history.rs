//! A room's history from its archive (XEP-0313 on the room JID): after a
//! rejoin, paged from our position in it; on a first visit, its newest
//! few. Kept in the room's order (see `Rooms::keep_order`).

use chrono::{DateTime, Utc};
use tokio_xmpp::jid::BareJid;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::message::Message;

use tokio_xmpp::parsers::disco::DiscoInfoResult;
use tokio_xmpp::parsers::ns;

use super::Rooms;
use crate::model::Event;
use crate::muc::{self, RoomMessage, Said, Since};
use crate::session::requests::{Out, Request};

/// A room's archive being paged.
pub(super) struct CatchUp {
    /// Our query's id: the archive's answers carry it.
    queryid: String,
    /// No message stored from here on may sort before this time: the
    /// time of the last message the archive gave, as stored (see
    /// `Rooms::keep_order`).
    floor: Option<DateTime<Utc>>,
    /// Archived messages received so far (for `Event::RoomCatchUp`).
    fetched: u32,
}

impl Rooms {
    /// After a rejoin, the room's archive after our position in it (the
    /// last message with no gap before it, see `store::rooms`): legacy
    /// history is capped (Prosody: 20 messages), the archive is not. A
    /// first join has nothing to page after.
    pub(super) fn catch_up(&mut self, room: &BareJid) -> Option<Out> {
        let after = self.store.room_position(room.as_str());
        let since = self.store.room_joined_at(room.as_str());
        let queryid = uuid::Uuid::new_v4().to_string();
        let mut floor = None;
        let window = self.visits.get(room).is_some_and(|v| v.window);
        let max = self.first_visit;
        let query: Box<dyn FnOnce(&str) -> Iq> = match (after, since) {
            // A first visit: the newest few.
            (Ok(None), _) if window => {
                let (room, queryid) = (room.clone(), queryid.clone());
                Box::new(move |id| muc::archive_latest(&room, id, &queryid, max))
            }
            (Ok(Some(after)), _) => {
                // What the archive gives next came after this message.
                let at = |r: Result<_, crate::store::StoreError>| {
                    r.unwrap_or_else(|e| {
                        tracing::warn!(%room, "cannot read the room's position: {e}");
                        None
                    })
                };
                floor = at(self.store.room_floor(room.as_str(), &after))
                    .max(at(self.store.room_position_floor(room.as_str())));
                tracing::debug!(%room, after, ?floor, "catching up with a room");
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
        self.catching_up.insert(
            room.clone(),
            CatchUp {
                queryid,
                floor,
                fetched: 0,
            },
        );
        Some(Out::ask(Request::RoomArchive(room.clone()), query))
    }

    /// A first visit: the room said what it offers. With an archive we
    /// enter asking for no history replay and page its newest messages
    /// (stamped and ordered by the room, and a position to resume from);
    /// without, the replay shows the last few.
    pub(super) fn first_visit(&mut self, room: &BareJid, answer: Iq) -> Option<Out> {
        let archived = match answer {
            Iq::Result {
                payload: Some(payload),
                ..
            } => DiscoInfoResult::try_from(payload)
                .is_ok_and(|info| info.features.iter().any(|f| f == ns::MAM)),
            // A room that does not exist yet (we may create it), or one
            // that does not answer disco: the replay.
            _ => false,
        };
        let visit = self.visits.get_mut(room)?;
        visit.window = archived;
        let since = if archived {
            Since::Nothing
        } else {
            Since::Recent(self.first_visit)
        };
        tracing::debug!(%room, archived, "entering a room for the first time");
        muc::join(room, &visit.nick, visit.password.as_deref(), since).map(Out::send)
    }

    pub(super) fn on_archive_page(
        &mut self,
        room: &BareJid,
        payload: Option<tokio_xmpp::minidom::Element>,
    ) -> Option<Out> {
        let catch_up = self.catching_up.get(room)?;
        // The page is stored (archived messages are handled as they come,
        // before their page's end): the position moves past it.
        let (queryid, floor) = (catch_up.queryid.clone(), catch_up.floor);
        let end = crate::archive::fin(payload);
        self.progress(
            room,
            !matches!(&end, Ok(end) if !end.complete && end.last.is_some()),
        );
        match end {
            // More to come, and where it starts (an unfinished page with
            // no last id cannot be followed: taken as the end below).
            Ok(crate::archive::PageEnd {
                complete: false,
                last: Some(after),
                ..
            }) => {
                self.advance(room, &after, floor);
                Some(Out::ask(Request::RoomArchive(room.clone()), |id| {
                    muc::archive_query(room, id, &queryid, &after)
                }))
            }
            Ok(end) => {
                if let Some(last) = &end.last {
                    self.advance(room, last, floor);
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
        let (Some(catch_up), Some(visit)) = (self.catching_up.get(&room), self.visits.get(&room))
        else {
            return;
        };
        let nick = visit.nick.clone();
        let Some(RoomMessage::Said(mut said)) =
            muc::archived(&room, msg, &catch_up.queryid, Utc::now())
        else {
            return;
        };
        let ours = said.from.resource().as_str() == nick;
        let sender = if ours {
            self.own.to_string()
        } else {
            said.from.to_string()
        };
        if let Some(catch_up) = self.catching_up.get_mut(&room) {
            catch_up.fetched = catch_up.fetched.saturating_add(1);
        }
        self.keep_order(&room, &sender, &mut said);
        if ours {
            self.ours(&room, &said);
        } else {
            self.theirs(&room, &said);
        }
    }

    /// Tells the app how far the catch-up with `room` got.
    pub(super) fn progress(&self, room: &BareJid, complete: bool) {
        if let Some(catch_up) = self.catching_up.get(room) {
            self.hub.emit(Event::RoomCatchUp {
                room: room.to_string(),
                fetched: catch_up.fetched,
                complete,
            });
        }
    }

    /// The archive pages in the room's order, but a message that reached
    /// us live is stored at our receipt time, after the room's stamp: a
    /// message the archive gives after it could sort before it (one
    /// sender's messages would swap). So a new message sorts no earlier
    /// than the one the archive gave before it.
    fn keep_order(&mut self, room: &BareJid, sender: &str, said: &mut Said) {
        let key = said.origin_id.as_deref().or(said.remote_id.as_deref());
        let stored = self.stored_at(room, said.stanza_id.as_deref(), sender, key);
        let Some(catch_up) = self.catching_up.get_mut(room) else {
            return;
        };
        match stored {
            Some(at) => catch_up.floor = catch_up.floor.max(Some(at)),
            None => {
                if let Some(floor) = catch_up.floor {
                    said.timestamp = said.timestamp.max(floor);
                }
                catch_up.floor = Some(said.timestamp);
            }
        }
    }

    /// When a message of `room` is stored as said, if it is.
    fn stored_at(
        &self,
        room: &BareJid,
        stanza_id: Option<&str>,
        sender: &str,
        key: Option<&str>,
    ) -> Option<DateTime<Utc>> {
        self.store
            .room_message_time(room.as_str(), stanza_id, sender, key)
            .unwrap_or_else(|e| {
                tracing::warn!(%room, "cannot read a room message's time: {e}");
                None
            })
    }

    /// Our message as the room stamped it: later markers and corrections
    /// in the room name it by that id.
    pub(super) fn keep_stanza_id(&self, id: &str, said: &Said) {
        let Some(stanza_id) = said.stanza_id.as_deref() else {
            return;
        };
        if let Err(e) = self.store.set_stanza_id(id, stanza_id) {
            tracing::warn!(id, "cannot record the room's id of our message: {e}");
        }
    }

    /// Everything of `room` up to `stanza_id` is stored.
    pub(super) fn advance(&self, room: &BareJid, stanza_id: &str, floor: Option<DateTime<Utc>>) {
        tracing::trace!(%room, stanza_id, "room position");
        if let Err(e) = self
            .store
            .set_room_position(room.as_str(), stanza_id, floor)
        {
            tracing::warn!(%room, "cannot record the room's position: {e}");
        }
    }
}
