//! The agent's group chat commands and events (`join_room`, `create_room`,
//! `leave_room`, `rooms`, `occupants`; `room_joined`, `room_error`,
//! `rooms`, `occupants`, `occupants_changed`), beside the general contract
//! in `json.rs`.

use jabberkit::{Client, Occupant, Room, RoomConfig};
use serde::{Deserialize, Serialize};

use crate::json::Output;

/// The room commands of stdin (flattened into `json::Command`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum RoomCommand {
    /// `Client::join_room`: answered by `room_joined` or `room_error`.
    JoinRoom {
        room: String,
        nick: String,
        #[serde(default)]
        password: Option<String>,
    },
    /// `Client::create_room`: answered by `room_joined` or `room_error`.
    CreateRoom {
        room: String,
        nick: String,
        #[serde(default)]
        password: Option<String>,
        #[serde(default)]
        members_only: bool,
        #[serde(default)]
        persistent: bool,
        #[serde(default)]
        name: Option<String>,
    },
    /// `Client::leave_room`.
    LeaveRoom { room: String },
    /// `Client::rooms`.
    Rooms,
    /// `Client::occupants`.
    Occupants { room: String },
}

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

/// Runs one room command; the answer to print, if it has one (joins
/// answer later, with the room's verdict).
pub fn execute(client: &Client, cmd: RoomCommand) -> Option<Output> {
    let result = match cmd {
        RoomCommand::JoinRoom {
            room,
            nick,
            password,
        } => client
            .join_room(&room, &nick, password.as_deref())
            .map(|()| None),
        RoomCommand::CreateRoom {
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
        RoomCommand::LeaveRoom { room } => client.leave_room(&room).map(|()| None),
        RoomCommand::Rooms => client.rooms().map(|rooms| {
            Some(Output::Rooms {
                items: rooms.iter().map(RoomItem::new).collect(),
            })
        }),
        RoomCommand::Occupants { room } => client.occupants(&room).map(|list| {
            Some(Output::Occupants {
                room,
                items: list.iter().map(OccupantItem::new).collect(),
            })
        }),
    };
    result.unwrap_or_else(|e| Some(Output::error(e.to_string())))
}
