//! Invitations to rooms, both kinds: mediated (XEP-0045 §7.8.2: sent
//! through the room, which adds the password and, in a members-only room,
//! may make the invitee a member) and direct (XEP-0249: sent to the
//! invitee, naming the room). We send and read both.
//!
//! An invitation is only a suggestion: the app shows it and joins (or
//! declines) if the user wants. A mediated one must come from the room
//! itself (a bare room JID), a direct one names its sender.

use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::message::{Message, MessageType};
use tokio_xmpp::parsers::muc::user::{Decline, Invite, MucUser};

const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
const CONFERENCE: &str = "jabber:x:conference";

/// An invitation that arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invitation {
    pub room: BareJid,
    /// Who invites us (their JID as the room or their server gave it).
    pub from: Jid,
    pub password: Option<String>,
    pub reason: Option<String>,
}

/// The invitation `msg` carries, if it carries one.
pub(crate) fn invitation(msg: &Message) -> Option<Invitation> {
    // A bounce of our own invitation may carry it back (ejabberd does).
    if msg.type_ == MessageType::Error {
        return None;
    }
    let sender = msg.from.clone()?;
    for x in &msg.payloads {
        if x.is("x", MUC_USER) {
            // Mediated: the room relays it, from its bare JID.
            let invite = x.get_child("invite", MUC_USER)?;
            if !sender.is_bare() {
                return None;
            }
            let room = sender.to_bare();
            let from = invite.attr("from")?.parse().ok()?;
            return Some(Invitation {
                room,
                from,
                password: text(x.get_child("password", MUC_USER)),
                reason: text(invite.get_child("reason", MUC_USER)),
            });
        }
        if x.is("x", CONFERENCE) {
            let room: BareJid = x.attr("jid")?.parse().ok()?;
            room.node()?;
            return Some(Invitation {
                room,
                from: sender,
                password: x
                    .attr("password")
                    .map(str::to_owned)
                    .filter(|p| !p.is_empty()),
                reason: x
                    .attr("reason")
                    .map(str::to_owned)
                    .filter(|r| !r.is_empty()),
            });
        }
    }
    None
}

/// A decline of one of our invitations, relayed by the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Declined {
    pub room: BareJid,
    pub from: Jid,
    pub reason: Option<String>,
}

/// The decline `msg` carries, if it comes from a room (a bare JID).
pub(crate) fn declined(msg: &Message) -> Option<Declined> {
    if msg.type_ == MessageType::Error {
        return None;
    }
    let sender = msg.from.as_ref().filter(|f| f.is_bare())?;
    let x = msg.payloads.iter().find(|p| p.is("x", MUC_USER))?;
    let decline = x.get_child("decline", MUC_USER)?;
    Some(Declined {
        room: sender.to_bare(),
        from: decline.attr("from")?.parse().ok()?,
        reason: text(decline.get_child("reason", MUC_USER)),
    })
}

fn text(el: Option<&Element>) -> Option<String> {
    el.map(Element::text).filter(|t| !t.is_empty())
}

/// Asks `room` to invite `to` (the room adds its password).
pub(crate) fn invite(room: &BareJid, to: &BareJid, reason: Option<&str>) -> Message {
    let invite = Invite {
        from: None,
        to: Some(Jid::from(to.clone())),
        reason: reason.map(str::to_owned),
    };
    let x = MucUser {
        invite: Some(invite),
        ..MucUser::default()
    };
    to_room(room, x)
}

/// Invites `to` to `room` directly (XEP-0249), with the room's
/// `password`: for rooms that do not relay invitations, or a contact who
/// should see who invites them.
pub(crate) fn invite_direct(
    room: &BareJid,
    to: &BareJid,
    password: Option<&str>,
    reason: Option<&str>,
) -> Message {
    use tokio_xmpp::minidom::rxml::xml_ncname;
    let mut x = Element::builder("x", CONFERENCE).attr(xml_ncname!("jid").into(), room.as_str());
    if let Some(password) = password {
        x = x.attr(xml_ncname!("password").into(), password);
    }
    if let Some(reason) = reason {
        x = x.attr(xml_ncname!("reason").into(), reason);
    }
    let mut msg = Message::new(Some(Jid::from(to.clone())));
    msg.payloads.push(x.build());
    msg.type_ = MessageType::Normal;
    msg
}

/// Tells `to`, through `room`, that we decline their invitation.
pub(crate) fn decline(room: &BareJid, to: &Jid, reason: Option<&str>) -> Message {
    let decline = Decline {
        from: None,
        to: Some(to.clone()),
        reason: reason.map(str::to_owned),
    };
    let x = MucUser {
        decline: Some(decline),
        ..MucUser::default()
    };
    to_room(room, x)
}

/// A normal (not chat) message to `room` carrying `x`: a room answers a
/// chat message carrying an invitation with `service-unavailable`.
fn to_room(room: &BareJid, x: MucUser) -> Message {
    let mut msg = Message::new(Some(Jid::from(room.clone()))).with_payload(x);
    msg.type_ = MessageType::Normal;
    msg
}
