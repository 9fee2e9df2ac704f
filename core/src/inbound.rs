//! What an incoming stanza means for us, decided without side effects so it
//! can be tested on raw XML.
//!
//! Hostile input is expected here: a stanza-id is trusted only when our own
//! server stamped it (`by` = our bare JID), since anyone can put one in a
//! message to make us drop it as a "duplicate".

use chrono::{DateTime, Utc};
use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::parsers::delay::Delay;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::message::{Message, MessageType};
use tokio_xmpp::parsers::ping::Ping;
use tokio_xmpp::parsers::receipts::{Received, Request};
use tokio_xmpp::parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};
use tokio_xmpp::parsers::stanza_id::{OriginId, StanzaId};

/// A chat message worth storing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Chat {
    /// Full JID of the sender (receipts go back there).
    pub from: Jid,
    pub remote_id: Option<String>,
    pub origin_id: Option<String>,
    pub stanza_id: Option<String>,
    pub body: String,
    pub timestamp: DateTime<Utc>,
    pub wants_receipt: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Inbound {
    Chat(Chat),
    /// XEP-0184: `from` confirms our message `id` arrived.
    Receipt {
        from: BareJid,
        id: String,
    },
    /// The server or the peer bounced our message `id` (type='error').
    Bounce {
        from: BareJid,
        id: String,
        reason: String,
    },
    Ignore,
}

pub(crate) fn classify_message(own: &BareJid, mut msg: Message, now: DateTime<Utc>) -> Inbound {
    if msg.type_ == MessageType::Error {
        let (Some(from), Some(id)) = (msg.from.clone(), msg.id.clone()) else {
            return Inbound::Ignore;
        };
        let reason = match msg.extract_valid_payload::<StanzaError>() {
            Some(e) => {
                let text = e
                    .texts
                    .values()
                    .next()
                    .map(|t| format!(": {t}"))
                    .unwrap_or_default();
                format!("{:?}{text}", e.defined_condition)
            }
            None => "bounced without a reason".to_owned(),
        };
        return Inbound::Bounce {
            from: from.to_bare(),
            id: id.0,
            reason,
        };
    }
    if !matches!(msg.type_, MessageType::Chat | MessageType::Normal) {
        return Inbound::Ignore;
    }
    let Some(from) = msg.from.clone() else {
        return Inbound::Ignore;
    };
    if from.to_bare() == *own {
        // Our own other devices (carbons) are handled by a later feature.
        return Inbound::Ignore;
    }
    let body = msg
        .get_best_body_cloned(vec![])
        .map(|(_, b)| b)
        .filter(|b| !b.is_empty());
    let Some(body) = body else {
        return match msg.extract_valid_payload::<Received>() {
            Some(Received { id }) => Inbound::Receipt {
                from: from.to_bare(),
                id,
            },
            None => Inbound::Ignore,
        };
    };
    let mut stanza_id = None;
    let mut origin_id = None;
    let mut delay = None;
    let mut wants_receipt = false;
    for payload in std::mem::take(&mut msg.payloads) {
        if let Ok(sid) = StanzaId::try_from(payload.clone()) {
            if sid.by == *own && stanza_id.is_none() {
                stanza_id = Some(sid.id);
            }
        } else if let Ok(oid) = OriginId::try_from(payload.clone()) {
            origin_id.get_or_insert(oid.id);
        } else if let Ok(d) = Delay::try_from(payload.clone()) {
            delay.get_or_insert(d.stamp.0.with_timezone(&Utc));
        } else if Request::try_from(payload).is_ok() {
            wants_receipt = true;
        }
    }
    Inbound::Chat(Chat {
        from,
        remote_id: msg.id.map(|id| id.0),
        origin_id,
        stanza_id,
        body,
        // A delay stamp from the future would sort a message after
        // everything else forever: never trust it past "now".
        timestamp: delay.map_or(now, |d| d.min(now)),
        wants_receipt,
    })
}

/// The answer an IQ request needs (RFC 6120 §8.2.3: every get/set gets one).
pub(crate) fn answer_iq(iq: Iq) -> Option<Iq> {
    let (from, id, payload) = match iq {
        Iq::Get {
            from, id, payload, ..
        }
        | Iq::Set {
            from, id, payload, ..
        } => (from, id, payload),
        Iq::Result { .. } | Iq::Error { .. } => return None,
    };
    let reply = if Ping::try_from(payload).is_ok() {
        Iq::Result {
            from: None,
            to: from,
            id,
            payload: None,
        }
    } else {
        let mut error = Iq::from_error(
            id,
            StanzaError::new(
                ErrorType::Cancel,
                DefinedCondition::ServiceUnavailable,
                "en",
                "not supported",
            ),
        );
        if let Some(from) = from {
            error = error.with_to(from);
        }
        error
    };
    Some(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_xmpp::minidom::Element;

    fn own() -> BareJid {
        "me@example.test".parse().expect("jid")
    }

    fn parse(xml: &str) -> Message {
        let el: Element = xml.parse().expect("xml");
        Message::try_from(el).expect("message")
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .expect("ts")
            .with_timezone(&Utc)
    }

    #[test]
    fn chat_with_ids_receipt_request_and_delay() {
        let m = parse(
            "<message xmlns='jabber:client' from='bob@example.test/phone' to='me@example.test' type='chat' id='r1'>\
             <body>hi</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/>\
             <stanza-id xmlns='urn:xmpp:sid:0' id='s1' by='me@example.test'/>\
             <request xmlns='urn:xmpp:receipts'/>\
             <delay xmlns='urn:xmpp:delay' stamp='2025-12-31T23:00:00Z'/></message>",
        );
        let Inbound::Chat(c) = classify_message(&own(), m, now()) else {
            panic!("not a chat")
        };
        assert_eq!(c.body, "hi");
        assert_eq!(c.remote_id.as_deref(), Some("r1"));
        assert_eq!(c.origin_id.as_deref(), Some("o1"));
        assert_eq!(c.stanza_id.as_deref(), Some("s1"));
        assert!(c.wants_receipt);
        assert_eq!(c.timestamp.to_rfc3339(), "2025-12-31T23:00:00+00:00");
    }

    #[test]
    fn stanza_id_stamped_by_someone_else_is_ignored() {
        let m = parse(
            "<message xmlns='jabber:client' from='eve@example.test/x' type='chat' id='r'>\
             <body>x</body><stanza-id xmlns='urn:xmpp:sid:0' id='victim' by='eve@example.test'/></message>",
        );
        let Inbound::Chat(c) = classify_message(&own(), m, now()) else {
            panic!("not a chat")
        };
        assert_eq!(c.stanza_id, None);
    }

    #[test]
    fn future_delay_is_clamped_to_now() {
        let m = parse(
            "<message xmlns='jabber:client' from='bob@example.test/x' type='chat'><body>x</body>\
             <delay xmlns='urn:xmpp:delay' stamp='2099-01-01T00:00:00Z'/></message>",
        );
        let Inbound::Chat(c) = classify_message(&own(), m, now()) else {
            panic!("not a chat")
        };
        assert_eq!(c.timestamp, now());
    }

    #[test]
    fn receipts_groupchat_errors_and_empty_bodies() {
        let receipt = parse(
            "<message xmlns='jabber:client' from='bob@example.test/x'><received xmlns='urn:xmpp:receipts' id='m1'/></message>",
        );
        assert_eq!(
            classify_message(&own(), receipt, now()),
            Inbound::Receipt {
                from: "bob@example.test".parse().expect("jid"),
                id: "m1".into()
            }
        );
        for xml in [
            "<message xmlns='jabber:client' from='room@muc.example.test/x' type='groupchat'><body>x</body></message>",
            "<message xmlns='jabber:client' from='bob@example.test/x' type='chat'><body></body></message>",
            "<message xmlns='jabber:client' type='chat'><body>no sender</body></message>",
            "<message xmlns='jabber:client' from='me@example.test/other' type='chat'><body>self</body></message>",
        ] {
            assert_eq!(classify_message(&own(), parse(xml), now()), Inbound::Ignore, "{xml}");
        }
    }

    #[test]
    fn bounces_carry_the_id_and_the_reason() {
        let m = parse(
            "<message xmlns='jabber:client' from='nobody@example.test' type='error' id='m1'>\
             <error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
        );
        let Inbound::Bounce { from, id, reason } = classify_message(&own(), m, now()) else {
            panic!("not a bounce")
        };
        assert_eq!((from.as_str(), id.as_str()), ("nobody@example.test", "m1"));
        assert!(reason.contains("ServiceUnavailable"), "{reason}");
    }

    #[test]
    fn pings_are_answered_and_unknown_requests_refused() {
        let ping: Element = "<iq xmlns='jabber:client' type='get' id='p1' from='example.test'><ping xmlns='urn:xmpp:ping'/></iq>"
            .parse()
            .expect("xml");
        let reply = answer_iq(Iq::try_from(ping).expect("iq")).expect("reply");
        assert!(matches!(reply, Iq::Result { ref id, .. } if id == "p1"));
        let other: Element = "<iq xmlns='jabber:client' type='get' id='q1' from='example.test'><query xmlns='jabber:iq:version'/></iq>"
            .parse()
            .expect("xml");
        let reply = answer_iq(Iq::try_from(other).expect("iq")).expect("reply");
        assert!(matches!(reply, Iq::Error { .. }));
        let result: Element = "<iq xmlns='jabber:client' type='result' id='r1'/>"
            .parse()
            .expect("xml");
        assert!(answer_iq(Iq::try_from(result).expect("iq")).is_none());
    }
}
