//! The agent's group chat commands and events (`join_room`, `create_room`,
//! `leave_room`, `rooms`, `occupants`; `room_joined`, `room_error`,
//! `rooms`, `occupants`, `occupants_changed`), beside the general contract
//! in `json.rs`.

use jabberkit::{Client, Occupant, Room, RoomConfig};
use serde::Serialize;

use crate::json::{Command, Output};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoomItem {
    pub room: String,
    pub nick: String,
    pub joined: bool,
    pub autojoin: bool,
}

impl RoomItem {
    fn new(r: &Room) -> Self {
        Self {
            room: r.jid.clone(),
            nick: r.nick.clone(),
            joined: r.joined,
            autojoin: r.autojoin,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OccupantItem {
    pub nick: String,
    pub role: String,
    pub affiliation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jid: Option<String>,
}

impl OccupantItem {
    fn new(o: &Occupant) -> Self {
        Self {
            nick: o.nick.clone(),
            role: o.role.clone(),
            affiliation: o.affiliation.clone(),
            jid: o.jid.clone(),
        }
    }
}

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
                RoomConfig {
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
        // Not a room command.
        _ => return None,
    };
    result.unwrap_or_else(|e| Some(Output::error(e.to_string())))
}
