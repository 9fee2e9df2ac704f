//! The session's dispatch between the rooms handler and the bookmarks
//! handler: what the app asks of rooms is published as bookmarks, and
//! what the bookmarks say (fetched or announced) is handed to the rooms.

use super::blocking::off_worker;
use super::bookmarks::Effect;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::presence::Presence;

use super::{RoomCommand, Running};

impl Running {
    /// The app joined, created or left a room here. A join is published
    /// once the room let us in (see `publish_if_entered`): a refused
    /// password must not reach the other devices.
    pub(super) async fn on_room_command(&mut self, cmd: RoomCommand) {
        let left = match &cmd {
            RoomCommand::Join { .. } => None,
            RoomCommand::Leave(room) => Some(room.to_string()),
        };
        let out = off_worker(|| self.rooms.on_command(cmd, self.online));
        self.send(out).await;
        if let Some(room) = left {
            let publish = off_worker(|| self.bookmarks.changed_here(&room, self.online));
            self.send(publish).await;
        }
    }

    /// A presence from one of our rooms.
    pub(super) async fn on_room_presence(&mut self, p: Presence) {
        let Some(room) = p.from.as_ref().map(|f| f.to_bare()) else {
            return;
        };
        let visiting = self.rooms.has(&room);
        let was_in = self.rooms.is_in(room.as_str());
        let out = off_worker(|| self.rooms.on_presence(p));
        self.send(out).await;
        if visiting && !self.rooms.has(&room) {
            // Banned, destroyed, refused: the other devices stop entering
            // it too (a kick only ends this visit: nothing changes).
            let publish = off_worker(|| self.bookmarks.changed_here(room.as_str(), self.online));
            self.send(publish).await;
        }
        self.push_settled().await;
        self.publish_if_entered(Some(room.to_string()), was_in)
            .await;
    }

    /// An IQ answer, maybe from one of our rooms (a room we created is
    /// entered once its set-up is accepted).
    pub(super) async fn on_room_answer(&mut self, iq: Iq) -> Option<Iq> {
        let room = match &iq {
            Iq::Result { from, .. } | Iq::Error { from, .. } => {
                from.as_ref().map(|f| f.to_bare().to_string())
            }
            _ => None,
        };
        let was_in = room.as_deref().is_some_and(|r| self.rooms.is_in(r));
        match self.rooms.on_answer(&mut self.requests, iq) {
            Ok(next) => self.send(next).await,
            Err(iq) => return Some(*iq),
        }
        self.push_settled().await;
        self.publish_if_entered(room, was_in).await;
        None
    }

    /// Rooms we are now in and caught up with: their messages go, oldest
    /// first (they waited in the send queue).
    async fn push_settled(&mut self) {
        let settled = self.rooms.take_settled();
        if settled.is_empty() {
            return;
        }
        for room in &settled {
            off_worker(|| self.queue.room_settled(room.as_str()));
        }
        // Corrections of room messages waited too, after what they correct.
        let pushes = off_worker(|| self.queue.pending(None));
        self.push(pushes).await;
    }

    /// A room the room let us in is bookmarked (its password is right).
    async fn publish_if_entered(&mut self, room: Option<String>, was_in: bool) {
        let Some(room) = room.filter(|r| !was_in && self.rooms.is_in(r)) else {
            return;
        };
        let publish = off_worker(|| self.bookmarks.changed_here(&room, self.online));
        self.send(publish).await;
    }

    /// Enters and leaves rooms as the account's bookmarks say.
    pub(super) async fn on_bookmarks(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            let cmd = match effect {
                Effect::Enter(entry) => {
                    let visiting = entry.jid.parse().is_ok_and(|room| self.rooms.has(&room));
                    if visiting {
                        continue;
                    }
                    tracing::info!(room = entry.jid, "entering a bookmarked room");
                    RoomCommand::Join {
                        entry,
                        create: None,
                    }
                }
                Effect::Leave(room) => {
                    tracing::info!(%room, "leaving a room another device left");
                    RoomCommand::Leave(room)
                }
            };
            let out = off_worker(|| self.rooms.on_command(cmd, self.online));
            self.send(out).await;
        }
    }
}
