//! Acting on a room: inviting someone, declining an invitation, changing
//! the subject, kicking, banning, destroying. Each needs the account
//! online ([`Error::NotConnected`] otherwise) and returns at once; the
//! room's refusal arrives as
//! [`Event::RoomActionFailed`](crate::Event::RoomActionFailed), its
//! success as what the room tells everyone (an occupant leaving, a new
//! subject in [`Event::RoomSubject`](crate::Event::RoomSubject)).

use super::rooms::parse_room;
use super::{check_body, parse_bare, Client};
use crate::error::Error;
use crate::session::{Command, RoomAction};

impl Client {
    /// Invites `jid` to `room` through the room (XEP-0045 mediated
    /// invitation): the room adds its password, and in a members-only
    /// room an owner's invitation makes `jid` a member.
    pub fn invite(&self, room: &str, jid: &str, reason: Option<&str>) -> Result<(), Error> {
        self.act(RoomAction::Invite {
            room: parse_room(room)?,
            to: parse_bare(jid)?,
            reason: text(reason)?,
        })
    }

    /// Invites `jid` to `room` directly (XEP-0249): the invitation goes
    /// to `jid` itself, from us, with the room's password as we entered
    /// it. For rooms that do not relay invitations, or to show who
    /// invites. A refusal by `jid`'s server arrives as
    /// [`Event::RoomActionFailed`](crate::Event::RoomActionFailed).
    pub fn invite_direct(&self, room: &str, jid: &str, reason: Option<&str>) -> Result<(), Error> {
        let room = parse_room(room)?;
        let password = self
            .inner
            .store
            .room_entry(room.as_str())?
            .and_then(|entry| entry.password);
        self.act(RoomAction::InviteDirect {
            room,
            to: parse_bare(jid)?,
            password,
            reason: text(reason)?,
        })
    }

    /// Tells `from` (who invited us, see
    /// [`Event::RoomInvite`](crate::Event::RoomInvite)) through `room`
    /// that we will not join.
    pub fn decline_invitation(
        &self,
        room: &str,
        from: &str,
        reason: Option<&str>,
    ) -> Result<(), Error> {
        self.act(RoomAction::Decline {
            room: parse_room(room)?,
            to: from
                .parse()
                .map_err(|e| Error::invalid(format!("{from:?} is not a JID: {e}")))?,
            reason: text(reason)?,
        })
    }

    /// Sets `room`'s subject (empty: clears it). Rooms let moderators, or
    /// everyone if so configured.
    pub fn set_subject(&self, room: &str, subject: &str) -> Result<(), Error> {
        if !subject.is_empty() {
            check_body(subject)?;
        }
        self.act(RoomAction::Subject {
            room: parse_room(room)?,
            subject: subject.to_owned(),
        })
    }

    /// Sends the occupant `nick` out of `room` (they may come back).
    /// Moderators only.
    pub fn kick(&self, room: &str, nick: &str, reason: Option<&str>) -> Result<(), Error> {
        let room = parse_room(room)?;
        if nick.is_empty() || room.with_resource_str(nick).is_err() {
            return Err(Error::invalid(format!("{nick:?} cannot be a nickname")));
        }
        self.act(RoomAction::Kick {
            room,
            nick: nick.to_owned(),
            reason: text(reason)?,
        })
    }

    /// Bans the account `jid` from `room` (sent out now, refused later).
    /// Admins and owners only.
    pub fn ban(&self, room: &str, jid: &str, reason: Option<&str>) -> Result<(), Error> {
        self.act(RoomAction::Ban {
            room: parse_room(room)?,
            jid: parse_bare(jid)?,
            reason: text(reason)?,
        })
    }

    /// Destroys `room`: everyone in it is sent away with `reason`. Owners
    /// only. Our own visit ends as
    /// [`RoomError::Destroyed`](crate::RoomError::Destroyed).
    pub fn destroy_room(&self, room: &str, reason: Option<&str>) -> Result<(), Error> {
        self.act(RoomAction::Destroy {
            room: parse_room(room)?,
            reason: text(reason)?,
        })
    }

    fn act(&self, action: RoomAction) -> Result<(), Error> {
        self.inner.online_command(Command::RoomAction(action))
    }
}

/// An optional reason: empty means none; otherwise it must be sendable.
fn text(reason: Option<&str>) -> Result<Option<String>, Error> {
    match reason.filter(|r| !r.is_empty()) {
        Some(r) => {
            check_body(r)?;
            Ok(Some(r.to_owned()))
        }
        None => Ok(None),
    }
}
