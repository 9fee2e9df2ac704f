//! Group chat rooms (XEP-0045): joining (and joining again on every fresh
//! session, with the password), setting up a room we created, who is in
//! each room, its messages, and why one sends us away.
//!
//! A resumed session keeps its rooms: the server never noticed a gap. A
//! fresh one does not (the server dropped our occupancy with the session),
//! so every room we were in is entered again, asking for what was said
//! after our newest stored message of it; copies are dropped by the room's
//! stanza-id, or by sender and origin-id.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use tokio_xmpp::jid::BareJid;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::presence::Presence;

use super::requests::{Joined, Out, Request, Requests};
use crate::events::EventHub;
use crate::model::{Event, RoomConfig, RoomError};
use crate::muc::{self, RoomPresence, Since};
use crate::store::{RoomEntry, Store};

mod history;
mod said;
mod self_ping;

/// What the app asked for (through the client, which stored it first).
pub(crate) enum RoomCommand {
    /// Enter `entry.jid`; `create`: set it up this way if it is new.
    Join {
        entry: RoomEntry,
        create: Option<RoomConfig>,
    },
    Leave(BareJid),
}

/// Rooms we are in, or entering, this session.
struct Visit {
    nick: String,
    password: Option<String>,
    /// Set a new room up this way (taken when the room says it is new).
    create: Option<RoomConfig>,
    joined: bool,
    /// When the room last said anything to us (see `self_ping`).
    heard: std::time::Instant,
    /// The time of the last message the room sent us on this visit (see
    /// `Rooms::in_order`).
    floor: Option<chrono::DateTime<Utc>>,
    /// A first visit to a room with an archive: its recent messages are
    /// paged from there (see `history::first_visit`).
    window: bool,
}

pub(crate) struct Rooms {
    own: BareJid,
    store: Arc<Store>,
    hub: Arc<EventHub>,
    joined: Joined,
    visits: HashMap<BareJid, Visit>,
    /// Rooms whose archive we are paging.
    catching_up: HashMap<BareJid, history::CatchUp>,
    /// Rooms we are in and caught up with: their messages may go (shared
    /// with the send queue, which reads it).
    ready: Joined,
    /// Rooms that became ready since the session last asked.
    settled: Vec<BareJid>,
    /// How many messages a first visit shows.
    first_visit: u32,
}

impl Rooms {
    /// `first_visit`: see `ClientConfig::room_first_visit`.
    pub(crate) fn new(
        own: BareJid,
        store: Arc<Store>,
        hub: Arc<EventHub>,
        joined: Joined,
        first_visit: u32,
    ) -> Self {
        Self {
            own,
            store,
            hub,
            joined,
            visits: HashMap::new(),
            catching_up: HashMap::new(),
            ready: Joined::default(),
            settled: Vec::new(),
            first_visit,
        }
    }

    /// The rooms we are in and caught up with, for the send queue: a
    /// room's messages wait until then, so that what the room already has
    /// (its archive says) is not sent again, and order is kept.
    pub(crate) fn ready(&self) -> Joined {
        self.ready.clone()
    }

    /// Rooms that became ready since the last call.
    pub(crate) fn take_settled(&mut self) -> Vec<BareJid> {
        std::mem::take(&mut self.settled)
    }

    /// We are in `room` and caught up with it.
    fn settle(&mut self, room: &BareJid) {
        self.ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(room.to_string());
        self.settled.push(room.clone());
    }

    /// Whether `jid` is a room of this session (its stanzas are ours to read).
    pub(crate) fn has(&self, jid: &BareJid) -> bool {
        self.visits.contains_key(jid)
    }

    /// Whether we are in `room` right now (its own presence came back).
    pub(crate) fn is_in(&self, room: &str) -> bool {
        super::requests::is_joined(&self.joined, room)
    }

    /// Whether `from` is one of this session's rooms (or an occupant).
    pub(crate) fn is_from(&self, from: Option<&tokio_xmpp::jid::Jid>) -> bool {
        from.is_some_and(|f| self.has(&f.to_bare()))
    }

    /// A fresh session: we are in no room; enter every room we were in.
    pub(crate) fn fresh_session(&mut self) -> Vec<Out> {
        self.visits.clear();
        self.catching_up.clear();
        self.set_joined(None, false);
        let entries = match self.store.autojoin_rooms() {
            Ok(entries) => entries,
            Err(e) => {
                tracing::error!("cannot read the rooms to join: {e}");
                return Vec::new();
            }
        };
        entries
            .into_iter()
            .filter_map(|entry| self.enter(entry, None))
            .collect()
    }

    /// Suspended: nothing is known until the link is back (resumed, we are
    /// still in; fresh, `fresh_session` enters again).
    pub(crate) fn on_command(&mut self, cmd: RoomCommand, online: bool) -> Option<Out> {
        match cmd {
            RoomCommand::Join { entry, create } => {
                if !online {
                    // Stored by the client: the next session enters it. A
                    // room to create is set up then.
                    let room: BareJid = entry.jid.parse().ok()?;
                    self.visits.remove(&room);
                    return None;
                }
                self.enter(entry, create)
            }
            RoomCommand::Leave(room) => {
                let visit = self.visits.remove(&room)?;
                self.set_joined(Some(&room), false);
                self.hub.emit(Event::RoomLeft {
                    room: room.to_string(),
                });
                if online {
                    muc::leave(&room, &visit.nick).map(Out::send)
                } else {
                    None
                }
            }
        }
    }

    fn enter(&mut self, entry: RoomEntry, create: Option<RoomConfig>) -> Option<Out> {
        let room: BareJid = entry.jid.parse().ok()?;
        // Been here before: the archive is paged after the join (see
        // `catch_up`), the history replay is not needed.
        let been = self
            .store
            .room_joined_at(&entry.jid)
            .ok()
            .flatten()
            .is_some()
            || self
                .store
                .last_room_stanza_id(&entry.jid)
                .ok()
                .flatten()
                .is_some();
        let since = match self.store.last_activity(&entry.jid) {
            _ if been => Some(Since::Nothing),
            Ok(Some(t)) => Some(Since::After(t)),
            // A first visit: ask the room whether it keeps an archive.
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(%room, "cannot read the room's last message: {e}");
                Some(Since::Recent(self.first_visit))
            }
        };
        let out = match since {
            Some(since) => Out::send(muc::join(
                &room,
                &entry.nick,
                entry.password.as_deref(),
                since,
            )?),
            None => Out::ask(Request::RoomInfo(room.clone()), |id| {
                muc::info_query(&room, id)
            }),
        };
        self.forget_occupants(&room);
        tracing::debug!(%room, nick = entry.nick, "entering a room");
        self.visits.insert(
            room,
            Visit {
                nick: entry.nick,
                password: entry.password,
                create,
                joined: false,
                heard: std::time::Instant::now(),
                floor: None,
                window: false,
            },
        );
        Some(out)
    }

    /// A presence from one of our rooms: what to send. A room we are now
    /// in and caught up with is in `take_settled`.
    pub(crate) fn on_presence(&mut self, p: Presence) -> Option<Out> {
        let room = p.from.as_ref().map(|f| f.to_bare())?;
        self.heard(&room);
        self.presence(&room, p)
    }

    fn presence(&mut self, room: &BareJid, p: Presence) -> Option<Out> {
        let room = room.clone();
        let visit = self.visits.get_mut(&room)?;
        match muc::classify_presence(&p, visit.password.is_some())? {
            RoomPresence::Joined { nick, created, me } => {
                visit.nick = nick.clone();
                let config = created.then(|| visit.create.take().unwrap_or_default());
                // We are in the list too (with our role and affiliation).
                self.occupant(&room, &nick, Some(&me));
                if let Some(config) = config {
                    // A new room stays locked until its owner sets it up;
                    // without a wish, accept the defaults (instant room).
                    return Some(Out::ask(Request::RoomConfig(room.clone()), |id| {
                        muc::configure(&room, &config, id)
                    }));
                }
                let out = self.catch_up(&room);
                self.now_joined(&room);
                if out.is_none() {
                    self.settle(&room);
                }
                return out;
            }
            RoomPresence::Occupant(o) => {
                let nick = o.nick.clone();
                self.occupant(&room, &nick, Some(&o));
            }
            RoomPresence::Gone { nick } => self.occupant(&room, &nick, None),
            RoomPresence::Out { error } => {
                self.visits.remove(&room);
                self.forget_occupants(&room);
                self.set_joined(Some(&room), false);
                match error {
                    // Only this visit ended: the next session enters again.
                    Some(error @ RoomError::Kicked { .. }) => {
                        self.refused(&room, error, None, false)
                    }
                    Some(error) => self.refused(&room, error, None, true),
                    None => {}
                }
            }
            RoomPresence::Refused { error, text } => {
                let joined = self.visits.remove(&room).is_some_and(|v| v.joined);
                self.set_joined(Some(&room), false);
                // Refused at the door: do not knock again on every session.
                self.refused(&room, error, text, !joined);
            }
        }
        None
    }

    /// Answers to our requests to a room (its set-up, its archive's
    /// pages) come from the room: handled here (`Ok`, with what to send
    /// next); anything else goes on (`Err`).
    pub(crate) fn on_answer(
        &mut self,
        requests: &mut Requests,
        iq: Iq,
    ) -> Result<Option<Out>, Box<Iq>> {
        let (id, from) = match &iq {
            Iq::Result { id, from, .. } | Iq::Error { id, from, .. } => (id, from),
            _ => return Err(Box::new(iq)),
        };
        let room = match requests.peek(id) {
            Some(
                Request::RoomConfig(room)
                | Request::RoomArchive(room)
                | Request::RoomPing(room)
                | Request::RoomInfo(room),
            ) => room.clone(),
            _ => return Err(Box::new(iq)),
        };
        if from.as_ref().map(|f| f.to_bare()).as_ref() != Some(&room) {
            return Err(Box::new(iq));
        }
        let request = requests.take(id);
        Ok(match (request, iq) {
            (Some(Request::RoomConfig(_)), Iq::Result { .. }) => {
                self.on_configured(&room, None);
                None
            }
            (Some(Request::RoomConfig(_)), Iq::Error { error, .. }) => {
                let condition = format!("{:?}", error.defined_condition);
                self.on_configured(&room, Some(condition));
                None
            }
            (Some(Request::RoomArchive(_)), Iq::Result { payload, .. }) => {
                self.on_archive_page(&room, payload)
            }
            (Some(Request::RoomInfo(_)), iq) => self.first_visit(&room, iq),
            (Some(Request::RoomPing(_)), Iq::Result { .. }) => None,
            (Some(Request::RoomPing(_)), Iq::Error { error, .. }) => self.on_pinged(&room, &error),
            (_, _) => {
                // No archive (or no access to it): what history gave is all.
                self.progress(&room, true);
                if self.catching_up.remove(&room).is_some() {
                    self.settle(&room);
                }
                None
            }
        })
    }

    fn on_configured(&mut self, room: &BareJid, refused: Option<String>) {
        match refused {
            None => {
                // A new room: nothing to catch up with.
                self.now_joined(room);
                self.settle(room);
            }
            Some(condition) => {
                self.visits.remove(room);
                self.refused(room, RoomError::Other { condition }, None, true);
            }
        }
    }

    fn now_joined(&mut self, room: &BareJid) {
        let Some(visit) = self.visits.get_mut(room) else {
            return;
        };
        visit.joined = true;
        let nick = visit.nick.clone();
        if let Err(e) = self.store.set_room_joined_at(room.as_str(), Utc::now()) {
            tracing::warn!(%room, "cannot record the join: {e}");
        }
        self.set_joined(Some(room), true);
        tracing::info!(%room, nick, "in the room");
        self.hub.emit(Event::RoomJoined {
            room: room.to_string(),
            nick,
        });
    }

    fn occupant(&self, room: &BareJid, nick: &str, o: Option<&crate::model::Occupant>) {
        match self.store.set_occupant(room.as_str(), nick, o) {
            Ok(()) => self.hub.emit(Event::OccupantsChanged {
                room: room.to_string(),
            }),
            Err(e) => tracing::warn!(%room, "cannot store an occupant: {e}"),
        }
    }

    /// Empties `room`'s list: we are out, or entering (it is rebuilt from
    /// the presences that follow), so no one stays listed who has left.
    fn forget_occupants(&self, room: &BareJid) {
        match self.store.clear_occupants(room.as_str()) {
            Ok(()) => self.hub.emit(Event::OccupantsChanged {
                room: room.to_string(),
            }),
            Err(e) => tracing::warn!(%room, "cannot reset the occupant list: {e}"),
        }
    }

    fn refused(&self, room: &BareJid, error: RoomError, text: Option<String>, for_good: bool) {
        tracing::info!(%room, ?error, "the room refused us or sent us away");
        if for_good {
            if let Err(e) = self.store.stop_autojoin(room.as_str()) {
                tracing::warn!(%room, "cannot stop rejoining: {e}");
            }
        }
        self.hub.emit(Event::RoomError {
            room: room.to_string(),
            error,
            text,
        });
    }

    /// One room in or out, or (`None`) all out.
    fn set_joined(&self, room: Option<&BareJid>, joined: bool) {
        if !joined {
            let mut ready = self.ready.lock().unwrap_or_else(|p| p.into_inner());
            match room {
                Some(room) => ready.remove(room.as_str()),
                None => {
                    ready.clear();
                    true
                }
            };
        }
        let mut set = self.joined.lock().unwrap_or_else(|p| p.into_inner());
        match (room, joined) {
            (Some(room), true) => {
                set.insert(room.to_string());
            }
            (Some(room), false) => {
                set.remove(room.as_str());
            }
            (None, _) => set.clear(),
        }
    }
}
