//! MUC self-ping (XEP-0410): a room can drop us without telling us (its
//! server restarted, the link between our server and the room's broke, a
//! ghost session replaced ours), and then nothing says we stopped
//! receiving its messages. So a room silent for a while is asked about
//! ourselves; if it no longer knows us, we enter it again (and its
//! archive fills the gap, see `history`).

use std::time::{Duration, Instant};

use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::ping::Ping;
use tokio_xmpp::parsers::stanza_error::{DefinedCondition, StanzaError};

use super::Rooms;
use crate::session::requests::{Out, Request};
use crate::store::RoomEntry;

impl Rooms {
    /// The room said something: no need to ask about it for a while.
    pub(super) fn heard(&mut self, room: &BareJid) {
        if let Some(visit) = self.visits.get_mut(room) {
            visit.heard = Instant::now();
        }
    }

    /// A ping to ourselves in every room we are in that has been silent
    /// for `quiet` (one per room per `quiet`).
    pub(crate) fn self_ping(&mut self, quiet: Duration) -> Vec<Out> {
        let now = Instant::now();
        let mut out = Vec::new();
        for (room, visit) in &mut self.visits {
            if !visit.joined || now.duration_since(visit.heard) < quiet {
                continue;
            }
            visit.heard = now;
            let Ok(to) = room.with_resource_str(&visit.nick) else {
                continue;
            };
            tracing::debug!(%room, "silent for a while: asking the room about us");
            out.push(Out::ask(Request::RoomPing(room.clone()), |id| {
                Iq::from_get(id, Ping).with_to(Jid::from(to))
            }));
        }
        out
    }

    /// The room's error answer to our self-ping: if it does not know us
    /// any more, enter it again. Other errors say we are still in (the
    /// room does not implement the ping) or say nothing (its server is
    /// unreachable: the next ping asks again).
    pub(super) fn on_pinged(&mut self, room: &BareJid, error: &StanzaError) -> Option<Out> {
        let gone = matches!(
            error.defined_condition,
            DefinedCondition::NotAcceptable | DefinedCondition::ItemNotFound
        );
        if !gone {
            return None;
        }
        let visit = self.visits.remove(room)?;
        tracing::warn!(%room, "the room no longer knows us: entering it again");
        self.set_joined(Some(room), false);
        let entry = RoomEntry {
            jid: room.to_string(),
            nick: visit.nick,
            password: visit.password,
            autojoin: true,
        };
        self.enter(entry, None)
    }
}
