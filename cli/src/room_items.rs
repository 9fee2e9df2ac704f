//! The items of the agent's group chat answers (`rooms`, `occupants`).

use jabberkit::{Occupant, Room};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoomItem {
    pub room: String,
    pub nick: String,
    pub joined: bool,
    pub autojoin: bool,
}

impl RoomItem {
    pub fn new(r: &Room) -> Self {
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
    pub fn new(o: &Occupant) -> Self {
        Self {
            nick: o.nick.clone(),
            role: o.role.clone(),
            affiliation: o.affiliation.clone(),
            jid: o.jid.clone(),
        }
    }
}
