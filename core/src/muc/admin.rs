//! What a room's moderators and owners do (XEP-0045 §8–10): change the
//! subject, kick an occupant, ban an account, destroy the room. The room
//! decides whether we may; its refusal comes back as an IQ error (or, for
//! the subject, a message error).

use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::minidom::rxml::xml_ncname;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::message::{Lang, Message, MessageType};

const MUC_ADMIN: &str = "http://jabber.org/protocol/muc#admin";
const MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";

/// The groupchat message that sets `room`'s subject (empty: clears it).
pub(crate) fn subject(room: &BareJid, subject: &str) -> Message {
    let mut msg = Message::new(Some(Jid::from(room.clone())));
    msg.type_ = MessageType::Groupchat;
    msg.subjects.insert(Lang::from(""), subject.to_owned());
    msg
}

/// Sends `nick` out of `room` (role none); they may come back.
pub(crate) fn kick(room: &BareJid, nick: &str, reason: Option<&str>, id: &str) -> Iq {
    let item = item(reason)
        .attr(xml_ncname!("nick").into(), nick)
        .attr(xml_ncname!("role").into(), "none");
    set(
        room,
        id,
        Element::builder("query", MUC_ADMIN).append(item.build()),
    )
}

/// Bans the account `jid` from `room` (affiliation outcast).
pub(crate) fn ban(room: &BareJid, jid: &BareJid, reason: Option<&str>, id: &str) -> Iq {
    let item = item(reason)
        .attr(xml_ncname!("jid").into(), jid.as_str())
        .attr(xml_ncname!("affiliation").into(), "outcast");
    set(
        room,
        id,
        Element::builder("query", MUC_ADMIN).append(item.build()),
    )
}

/// Destroys `room`; its occupants are told `reason`.
pub(crate) fn destroy(room: &BareJid, reason: Option<&str>, id: &str) -> Iq {
    let mut destroy = Element::builder("destroy", MUC_OWNER);
    if let Some(reason) = reason {
        destroy = destroy.append(Element::builder("reason", MUC_OWNER).append(reason).build());
    }
    set(
        room,
        id,
        Element::builder("query", MUC_OWNER).append(destroy.build()),
    )
}

fn item(reason: Option<&str>) -> tokio_xmpp::minidom::ElementBuilder {
    let item = Element::builder("item", MUC_ADMIN);
    match reason {
        Some(reason) => item.append(Element::builder("reason", MUC_ADMIN).append(reason).build()),
        None => item,
    }
}

fn set(room: &BareJid, id: &str, query: tokio_xmpp::minidom::ElementBuilder) -> Iq {
    Iq::Set {
        from: None,
        to: Some(Jid::from(room.clone())),
        id: id.to_owned(),
        payload: query.build(),
    }
}
