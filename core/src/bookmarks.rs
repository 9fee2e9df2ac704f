//! Bookmarks (XEP-0402, PEP native bookmarks) on the wire: the rooms this
//! account is in, kept on its own server in the PEP node
//! `urn:xmpp:bookmarks:1`, one item per room (the item id is the room's
//! JID), so every device of the account enters the same rooms with the
//! same nick and password. Items are published with a `whitelist` access
//! model: only the account reads them (they hold room passwords).
//!
//! Trust: only our own account's PEP (no `from`, or our bare JID) is read.

use tokio_xmpp::jid::BareJid;
use tokio_xmpp::minidom::rxml::xml_ncname;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::bookmarks2::Conference;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::message::Message;

pub(crate) const NODE: &str = "urn:xmpp:bookmarks:1";
const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
const PUBSUB_EVENT: &str = "http://jabber.org/protocol/pubsub#event";
const DATA_FORMS: &str = "jabber:x:data";

/// One room, as the account's bookmarks say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bookmark {
    pub room: BareJid,
    pub nick: Option<String>,
    pub password: Option<String>,
    pub autojoin: bool,
}

/// A change another device (or this one) made, as the server announces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    Set(Bookmark),
    Removed(BareJid),
}

/// The request for all our bookmarks.
pub(crate) fn fetch(id: &str) -> Iq {
    let items = Element::builder("items", PUBSUB).attr(xml_ncname!("node").into(), NODE);
    let pubsub = Element::builder("pubsub", PUBSUB)
        .append(items.build())
        .build();
    Iq::Get {
        from: None,
        to: None,
        id: id.to_owned(),
        payload: pubsub,
    }
}

/// Publishes (adds or replaces) `b`, readable by the account only.
pub(crate) fn publish(b: &Bookmark, id: &str) -> Iq {
    let mut conference = Conference::new();
    conference.autojoin = b.autojoin;
    conference.nick = b.nick.as_deref().and_then(|n| n.parse().ok());
    conference.password = b.password.clone();
    let item = Element::builder("item", PUBSUB)
        .attr(xml_ncname!("id").into(), b.room.as_str())
        .append(Element::from(conference));
    let publish = Element::builder("publish", PUBSUB)
        .attr(xml_ncname!("node").into(), NODE)
        .append(item.build());
    let options = Element::builder("publish-options", PUBSUB).append(
        Element::builder("x", DATA_FORMS)
            .attr(xml_ncname!("type").into(), "submit")
            .append(field(
                "FORM_TYPE",
                "http://jabber.org/protocol/pubsub#publish-options",
            ))
            .append(field("pubsub#persist_items", "true"))
            .append(field("pubsub#max_items", "max"))
            .append(field("pubsub#send_last_published_item", "never"))
            .append(field("pubsub#access_model", "whitelist"))
            .build(),
    );
    let pubsub = Element::builder("pubsub", PUBSUB)
        .append(publish.build())
        .append(options.build())
        .build();
    Iq::Set {
        from: None,
        to: None,
        id: id.to_owned(),
        payload: pubsub,
    }
}

fn field(var: &str, value: &str) -> Element {
    Element::builder("field", DATA_FORMS)
        .attr(xml_ncname!("var").into(), var)
        .append(Element::builder("value", DATA_FORMS).append(value).build())
        .build()
}

/// The bookmarks in the answer to [`fetch`]; an empty list when the
/// answer has none.
pub(crate) fn fetched(payload: Option<Element>) -> Vec<Bookmark> {
    let Some(pubsub) = payload.filter(|p| p.is("pubsub", PUBSUB)) else {
        return Vec::new();
    };
    pubsub
        .get_child("items", PUBSUB)
        .into_iter()
        .flat_map(|items| items.children())
        .filter(|item| item.is("item", PUBSUB))
        .filter_map(|item| bookmark(item, PUBSUB))
        .collect()
}

/// The bookmark changes `msg` announces, if it is a notification of our
/// own account's bookmarks node (from anyone else: `None`).
pub(crate) fn changes(own: &BareJid, msg: &Message) -> Option<Vec<Change>> {
    match &msg.from {
        None => {}
        Some(from) if from.is_bare() && from.to_bare() == *own => {}
        Some(_) => return None,
    }
    let items = msg
        .payloads
        .iter()
        .find(|p| p.is("event", PUBSUB_EVENT))?
        .get_child("items", PUBSUB_EVENT)
        .filter(|items| items.attr("node") == Some(NODE))?;
    let mut changes = Vec::new();
    for child in items.children() {
        if child.is("item", PUBSUB_EVENT) {
            changes.extend(bookmark(child, PUBSUB_EVENT).map(Change::Set));
        } else if child.is("retract", PUBSUB_EVENT) {
            if let Some(room) = child.attr("id").and_then(|id| id.parse().ok()) {
                changes.push(Change::Removed(room));
            }
        }
    }
    Some(changes)
}

fn bookmark(item: &Element, ns: &str) -> Option<Bookmark> {
    let room: BareJid = item.attr("id")?.parse().ok()?;
    room.node()?;
    let conference = item
        .children()
        .find(|c| c.name() == "conference")
        .and_then(|c| Conference::try_from(c.clone()).ok());
    let Some(conference) = conference else {
        tracing::debug!(%room, ns, "a bookmark item without a readable conference");
        return None;
    };
    Some(Bookmark {
        room,
        nick: conference.nick.map(|n| n.to_string()),
        password: conference.password.filter(|p| !p.is_empty()),
        autojoin: conference.autojoin,
    })
}

pub(crate) mod legacy;

#[cfg(test)]
mod tests;
