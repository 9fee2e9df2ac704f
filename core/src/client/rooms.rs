//! Group chat rooms (XEP-0045): joining, creating, leaving, and what a UI
//! reads about them. A room's messages are a conversation like any other
//! (its `with` is the room's bare JID): `send`, `history`, `timeline`,
//! `mark_read` and `search` work on it.

use super::{parse_bare, Client};
use crate::error::Error;
use crate::lists::{self, OccupantList};
use crate::model::{Occupant, Room, RoomConfig};
use crate::session::{Command, RoomCommand};
use crate::store::RoomEntry;

impl Client {
    /// Enters `room` (a bare JID, `room@conference.example.org`) as `nick`,
    /// with its `password` if it has one. The outcome arrives as
    /// [`Event::RoomJoined`](crate::Event::RoomJoined) or
    /// [`Event::RoomError`](crate::Event::RoomError) (a missing or wrong
    /// password, a ban, a nickname in use…). The room is remembered and
    /// entered again on every new session until [`Client::leave_room`] or
    /// a refusal. Offline, it is entered once online.
    pub fn join_room(&self, room: &str, nick: &str, password: Option<&str>) -> Result<(), Error> {
        self.enter(room, nick, password, None)
    }

    /// Creates `room` (and enters it as `nick`, its owner), set up as
    /// `config` says. If the room already exists, this joins it (with
    /// `config.password`) and changes nothing.
    pub fn create_room(&self, room: &str, nick: &str, config: RoomConfig) -> Result<(), Error> {
        let password = config.password.clone();
        self.enter(room, nick, password.as_deref(), Some(config))
    }

    fn enter(
        &self,
        room: &str,
        nick: &str,
        password: Option<&str>,
        create: Option<RoomConfig>,
    ) -> Result<(), Error> {
        let jid = parse_room(room)?;
        let nick = nick.trim();
        if nick.is_empty() || jid.with_resource_str(nick).is_err() {
            return Err(Error::invalid(format!("{nick:?} cannot be a nickname")));
        }
        let entry = RoomEntry {
            jid: jid.to_string(),
            nick: nick.to_owned(),
            password: password.filter(|p| !p.is_empty()).map(str::to_owned),
            autojoin: true,
        };
        self.inner.store.upsert_room(&entry)?;
        self.command(Command::Room(RoomCommand::Join { entry, create }));
        Ok(())
    }

    /// Leaves `room` and stops entering it on new sessions; its messages
    /// stay in the store.
    pub fn leave_room(&self, room: &str) -> Result<(), Error> {
        let jid = parse_bare(room)?;
        self.inner.store.stop_autojoin(jid.as_str())?;
        // Out at once for the UI, though the room hears it a moment later.
        self.inner
            .joined_rooms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(jid.as_str());
        self.command(Command::Room(RoomCommand::Leave(jid)));
        Ok(())
    }

    /// The rooms this account knows: those it is in, entering, or left
    /// (`autojoin` false), with whether it is in each right now.
    pub fn rooms(&self) -> Result<Vec<Room>, Error> {
        let joined = self
            .inner
            .joined_rooms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Ok(self.inner.store.rooms(&|jid| joined.contains(jid))?)
    }

    /// Who is in `room` (ourselves included, with our role and
    /// affiliation), by nickname, as last seen (kept up to date while
    /// in the room; [`Event::OccupantsChanged`](crate::Event::OccupantsChanged)
    /// says when to read again).
    pub fn occupants(&self, room: &str) -> Result<Vec<Occupant>, Error> {
        let jid = parse_bare(room)?;
        Ok(self.inner.store.occupants(jid.as_str())?)
    }

    /// Who is in `room` as a list kept up to date by the core, so a member
    /// pane applies changes instead of re-reading on every
    /// [`Event::OccupantsChanged`](crate::Event::OccupantsChanged): its
    /// first batch is the occupants as last seen (by nickname), then
    /// joins, leaves, nick changes, kicks and bans; emptied when we leave
    /// or are sent away. Needs no connection; drop it to stop it.
    ///
    /// Errors: [`Error::InvalidInput`] if `room` is not a room's bare JID.
    pub fn occupant_list(&self, room: &str) -> Result<OccupantList, Error> {
        let jid = parse_room(room)?;
        let inner = &self.inner;
        Ok(lists::occupant_list(
            &inner.runtime,
            inner.store.clone(),
            &inner.hub,
            jid.to_string(),
        ))
    }

    fn command(&self, command: Command) {
        if let Some(session) = self.inner.lock_session().as_ref() {
            // If the session just ended, the store has it for the next one.
            let _ = session.commands.send(command);
        }
    }
}

/// A room's bare JID (`room@service`), refusing a bare service.
pub(super) fn parse_room(room: &str) -> Result<tokio_xmpp::jid::BareJid, Error> {
    let jid = parse_bare(room)?;
    if jid.node().is_none() {
        return Err(Error::invalid(format!(
            "{room:?} is a service, not a room (room@service)"
        )));
    }
    Ok(jid)
}
