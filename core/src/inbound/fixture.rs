//! What the message tests start from: our JID, raw XML, a fixed "now".

use chrono::{DateTime, Utc};
use tokio_xmpp::jid::BareJid;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::message::Message;

pub(super) fn own() -> BareJid {
    "me@example.test".parse().expect("jid")
}

pub(super) fn parse(xml: &str) -> Message {
    let el: Element = xml.parse().expect("xml");
    Message::try_from(el).expect("message")
}

pub(super) fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
        .expect("ts")
        .with_timezone(&Utc)
}
