//! The agent's group chat commands, run here; the commands and events
//! themselves are declared in `json.rs`, the items of its answers in
//! `room_items.rs`.

use jabberkit::Client;

use crate::json::{Command, Output};
use crate::room_items::{OccupantItem, RoomItem};

/// Runs one room command (see `json::Command`); the answer to print, if
/// it has one (joins answer later, with the room's verdict).
pub fn execute(client: &Client, cmd: Command) -> Option<Output> {
    let result = match cmd {
        Command::JoinRoom {
            room,
            nick,
            password,
        } => client
            .join_room(&room, &nick, password.as_deref())
            .map(|()| None),
        Command::CreateRoom {
            room,
            nick,
            password,
            members_only,
            persistent,
            name,
        } => client
            .create_room(
                &room,
                &nick,
                jabberkit::RoomConfig {
                    name,
                    password,
                    members_only,
                    persistent,
                },
            )
            .map(|()| None),
        Command::LeaveRoom { room } => client.leave_room(&room).map(|()| None),
        Command::Rooms => client.rooms().map(|rooms| {
            Some(Output::Rooms {
                items: rooms.iter().map(RoomItem::new).collect(),
            })
        }),
        Command::Occupants { room } => client.occupants(&room).map(|list| {
            Some(Output::Occupants {
                room,
                items: list.iter().map(OccupantItem::new).collect(),
            })
        }),
        Command::Invite {
            room,
            jid,
            reason,
            direct: false,
        } => client.invite(&room, &jid, reason.as_deref()).map(|()| None),
        Command::Invite {
            room,
            jid,
            reason,
            direct: true,
        } => client
            .invite_direct(&room, &jid, reason.as_deref())
            .map(|()| None),
        Command::DeclineInvite { room, from, reason } => client
            .decline_invitation(&room, &from, reason.as_deref())
            .map(|()| None),
        Command::SetSubject { room, subject } => client.set_subject(&room, &subject).map(|()| None),
        Command::Kick { room, nick, reason } => {
            client.kick(&room, &nick, reason.as_deref()).map(|()| None)
        }
        Command::Ban { room, jid, reason } => {
            client.ban(&room, &jid, reason.as_deref()).map(|()| None)
        }
        Command::DestroyRoom { room, reason } => {
            client.destroy_room(&room, reason.as_deref()).map(|()| None)
        }
        // Not a room command.
        _ => return None,
    };
    result.unwrap_or_else(|e| Some(Output::error(e.to_string())))
}
