//! What an incoming stanza means for us, decided without side effects so it
//! can be tested on raw XML.
//!
//! Hostile input is expected here: a stanza-id is trusted only when our own
//! server stamped it (`by` = our bare JID), since anyone can put one in a
//! message to make us drop it as a "duplicate". Likewise a carbon (XEP-0280)
//! is unwrapped only when our own server sent it (`from` = our bare JID):
//! anyone can wrap a forged message in `<received/>`, and clients that
//! skipped this check let strangers inject messages "from" anyone.

use chrono::{DateTime, Utc};

use crate::model::TypingState;
use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::carbons;
use tokio_xmpp::parsers::chatstates::ChatState;
use tokio_xmpp::parsers::delay::Delay;
use tokio_xmpp::parsers::displayed_markers::Displayed;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::message::{Message, MessageType};
use tokio_xmpp::parsers::message_correct::Replace;
use tokio_xmpp::parsers::ns;
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
    /// The sender wants read markers (XEP-0333 `<markable/>`).
    pub markable: bool,
    /// XEP-0308: this corrects the sender's message with this `@id`.
    pub replace: Option<String>,
}

/// A message one of our other devices sent, seen as a carbon or in the
/// archive: stored as ours, never sent from here.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OwnCopy {
    /// The peer's bare JID: the conversation.
    pub to: BareJid,
    pub origin_id: Option<String>,
    /// The stanza's `@id`.
    pub remote_id: Option<String>,
    pub body: String,
    pub timestamp: DateTime<Utc>,
    /// XEP-0308: this corrects our message with this `@id`.
    pub replace: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Inbound {
    Chat(Chat),
    /// XEP-0280: a chat message another of our devices received. Stored like
    /// [`Inbound::Chat`], but that device answers its receipt request.
    CarbonReceived(Chat),
    /// XEP-0280: a message another of our devices sent; ours too.
    CarbonSent(OwnCopy),
    /// XEP-0184: `from` confirms our message `id` arrived.
    Receipt {
        from: BareJid,
        id: String,
    },
    /// XEP-0333: `from` displayed our message `id` and all before it.
    Displayed {
        from: BareJid,
        id: String,
    },
    /// XEP-0333 via a carbon: another device of ours displayed the
    /// conversation with `with`, so it is read here too.
    ReadElsewhere {
        with: BareJid,
    },
    /// XEP-0085: what `from` is doing in our conversation.
    Typing {
        from: BareJid,
        state: TypingState,
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
    // Only the wrappers: a peer's `<private/>` hint is not a carbon.
    let wrapped = |p: &Element| p.is("received", ns::CARBONS) || p.is("sent", ns::CARBONS);
    if msg.payloads.iter().any(wrapped) {
        return classify_carbon(own, msg, now);
    }
    if !matches!(msg.type_, MessageType::Chat | MessageType::Normal) {
        return Inbound::Ignore;
    }
    let Some(from) = msg.from.clone() else {
        return Inbound::Ignore;
    };
    if from.to_bare() == *own {
        // Our other devices reach us only through carbons.
        return Inbound::Ignore;
    }
    let Some(body) = body_of(&msg) else {
        if let Some(Received { id }) = msg.extract_valid_payload::<Received>() {
            return Inbound::Receipt {
                from: from.to_bare(),
                id,
            };
        }
        if let Some(Displayed { id }) = msg.extract_valid_payload::<Displayed>() {
            return Inbound::Displayed {
                from: from.to_bare(),
                id: id.0,
            };
        }
        return match msg.extract_valid_payload::<ChatState>() {
            Some(state) => Inbound::Typing {
                from: from.to_bare(),
                state: typing_state(state),
            },
            None => Inbound::Ignore,
        };
    };
    let ids = ids_of(own, std::mem::take(&mut msg.payloads));
    let remote_id = msg.id.map(|id| id.0);
    Inbound::Chat(Chat {
        replace: ids.replace_of(remote_id.as_deref()),
        from,
        remote_id,
        origin_id: ids.origin_id,
        stanza_id: ids.stanza_id,
        body,
        timestamp: clamp(ids.delay, now),
        wants_receipt: ids.wants_receipt,
        markable: ids.markable,
    })
}

/// A message with a carbons payload. Only our own server may send one, from
/// our bare JID; anything else is a forgery and is dropped whole.
fn classify_carbon(own: &BareJid, mut msg: Message, now: DateTime<Utc>) -> Inbound {
    if msg.from != Some(Jid::from(own.clone())) {
        tracing::warn!(from = ?msg.from, "dropped a carbon not sent by our own server (spoofing?)");
        return Inbound::Ignore;
    }
    let (sent, forwarded) = if let Some(r) = msg.extract_valid_payload::<carbons::Received>() {
        (false, r.forwarded)
    } else if let Some(s) = msg.extract_valid_payload::<carbons::Sent>() {
        (true, s.forwarded)
    } else {
        tracing::debug!("dropped a malformed carbon");
        return Inbound::Ignore;
    };
    let mut inner = forwarded.message;
    if !matches!(inner.type_, MessageType::Chat | MessageType::Normal) {
        return Inbound::Ignore;
    }
    let (Some(from), Some(to)) = (inner.from.clone(), inner.to.clone()) else {
        return Inbound::Ignore;
    };
    let (from_us, to_us) = (from.to_bare() == *own, to.to_bare() == *own);
    let Some(body) = body_of(&inner) else {
        // A read marker between a peer and another device of ours.
        return match (
            inner.extract_valid_payload::<Displayed>(),
            sent,
            from_us,
            to_us,
        ) {
            (Some(Displayed { id }), false, false, true) => Inbound::Displayed {
                from: from.to_bare(),
                id: id.0,
            },
            (Some(_), true, true, false) => Inbound::ReadElsewhere { with: to.to_bare() },
            _ => Inbound::Ignore,
        };
    };
    let ids = ids_of(own, std::mem::take(&mut inner.payloads));
    // The forwarded delay says when the original was sent, if the inner
    // message does not.
    let delay = ids
        .delay
        .or(forwarded.delay.map(|d| d.stamp.0.with_timezone(&Utc)));
    let remote_id = inner.id.map(|id| id.0);
    let replace = ids.replace_of(remote_id.as_deref());
    // Exactly one side must be us: a "sent" carbon from someone else, or a
    // "received" one addressed elsewhere, cannot be true. Notes to self
    // (both sides us) are not supported yet.
    match (sent, from_us, to_us) {
        (false, false, true) => Inbound::CarbonReceived(Chat {
            from,
            remote_id,
            origin_id: ids.origin_id,
            stanza_id: ids.stanza_id,
            body,
            timestamp: clamp(delay, now),
            // The device that got it answers the request.
            wants_receipt: false,
            markable: ids.markable,
            replace,
        }),
        (true, true, false) => Inbound::CarbonSent(OwnCopy {
            to: to.to_bare(),
            origin_id: ids.origin_id,
            remote_id,
            body,
            timestamp: clamp(delay, now),
            replace,
        }),
        _ => {
            tracing::warn!(%from, %to, sent, "dropped a carbon with impossible addresses");
            Inbound::Ignore
        }
    }
}

/// The non-empty body of a message.
pub(crate) fn body_of(msg: &Message) -> Option<String> {
    msg.get_best_body_cloned(vec![])
        .map(|(_, b)| b)
        .filter(|b| !b.is_empty())
}

/// What a chat message's payloads say about its identity and time.
#[derive(Default)]
pub(crate) struct Ids {
    pub stanza_id: Option<String>,
    pub origin_id: Option<String>,
    pub delay: Option<DateTime<Utc>>,
    pub wants_receipt: bool,
    pub markable: bool,
    /// XEP-0308 `<replace id=…/>`.
    pub replace: Option<String>,
}

impl Ids {
    /// The message this one corrects, unless it names itself: a message
    /// "correcting" its own id would make a receiver chase it forever (a
    /// crash bug in another client), so it is taken as a new message.
    pub(crate) fn replace_of(&self, remote_id: Option<&str>) -> Option<String> {
        let replace = self.replace.as_deref()?;
        if Some(replace) == remote_id || Some(replace) == self.origin_id.as_deref() {
            tracing::warn!(id = replace, "ignored a message that corrects itself");
            return None;
        }
        Some(replace.to_owned())
    }
}

pub(crate) fn ids_of(own: &BareJid, payloads: Vec<Element>) -> Ids {
    let mut ids = Ids::default();
    for payload in payloads {
        if let Ok(sid) = StanzaId::try_from(payload.clone()) {
            if sid.by == *own && ids.stanza_id.is_none() {
                ids.stanza_id = Some(sid.id);
            }
        } else if let Ok(oid) = OriginId::try_from(payload.clone()) {
            ids.origin_id.get_or_insert(oid.id);
        } else if let Ok(d) = Delay::try_from(payload.clone()) {
            ids.delay.get_or_insert(d.stamp.0.with_timezone(&Utc));
        } else if let Ok(r) = Replace::try_from(payload.clone()) {
            ids.replace.get_or_insert(r.id.0);
        } else if payload.is("markable", ns::DISPLAYED_MARKERS) {
            ids.markable = true;
        } else if Request::try_from(payload).is_ok() {
            ids.wants_receipt = true;
        }
    }
    ids
}

/// A delay stamp from the future would sort a message after everything
/// else forever: never trust it past "now".
pub(crate) fn clamp(delay: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
    delay.map_or(now, |d| d.min(now))
}

fn typing_state(state: ChatState) -> TypingState {
    match state {
        ChatState::Active => TypingState::Active,
        ChatState::Composing => TypingState::Composing,
        ChatState::Paused => TypingState::Paused,
        ChatState::Inactive => TypingState::Inactive,
        ChatState::Gone => TypingState::Gone,
    }
}

/// XEP-0085 notification telling `to` what we are doing; bodyless, so
/// servers neither archive nor store it offline.
pub(crate) fn typing_for(to: BareJid, state: TypingState) -> Message {
    let state = match state {
        TypingState::Active => ChatState::Active,
        TypingState::Composing => ChatState::Composing,
        TypingState::Paused => ChatState::Paused,
        TypingState::Inactive => ChatState::Inactive,
        TypingState::Gone => ChatState::Gone,
    };
    Message::chat(Jid::from(to)).with_payload(state)
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

    /// A carbon wrapper (`kind` = received or sent) from `outer` around `inner`.
    fn carbon(outer: &str, kind: &str, inner: &str) -> Message {
        parse(&format!(
            "<message xmlns='jabber:client' from='{outer}' to='me@example.test/phone' type='chat'>\
             <{kind} xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>{inner}</forwarded></{kind}></message>"
        ))
    }

    #[test]
    fn received_carbon_from_our_server_is_an_incoming_chat_without_receipt() {
        let m = carbon(
            "me@example.test",
            "received",
            "<message xmlns='jabber:client' from='bob@example.test/pc' to='me@example.test/laptop' type='chat' id='r1'>\
             <body>hi</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/>\
             <stanza-id xmlns='urn:xmpp:sid:0' id='s1' by='me@example.test'/>\
             <request xmlns='urn:xmpp:receipts'/></message>",
        );
        let Inbound::CarbonReceived(c) = classify_message(&own(), m, now()) else {
            panic!("not a received carbon")
        };
        assert_eq!(c.from.to_string(), "bob@example.test/pc");
        assert_eq!(c.body, "hi");
        assert_eq!(c.remote_id.as_deref(), Some("r1"));
        assert_eq!(c.origin_id.as_deref(), Some("o1"));
        assert_eq!(c.stanza_id.as_deref(), Some("s1"));
        assert!(!c.wants_receipt, "the other device answers the receipt");
        assert_eq!(c.timestamp, now());
    }

    #[test]
    fn sent_carbon_is_our_outgoing_message_to_the_inner_recipient() {
        let m = carbon(
            "me@example.test",
            "sent",
            "<delay xmlns='urn:xmpp:delay' stamp='2025-12-31T23:00:00Z'/>\
             <message xmlns='jabber:client' from='me@example.test/laptop' to='bob@example.test/pc' type='chat' id='r2'>\
             <body>from my laptop</body><origin-id xmlns='urn:xmpp:sid:0' id='o2'/></message>",
        );
        assert_eq!(
            classify_message(&own(), m, now()),
            Inbound::CarbonSent(OwnCopy {
                replace: None,
                to: "bob@example.test".parse().expect("jid"),
                origin_id: Some("o2".into()),
                remote_id: Some("r2".into()),
                body: "from my laptop".into(),
                timestamp: DateTime::parse_from_rfc3339("2025-12-31T23:00:00Z")
                    .expect("ts")
                    .with_timezone(&Utc),
            })
        );
    }

    #[test]
    fn carbon_not_sent_by_our_own_bare_jid_is_dropped_whole() {
        let inner = "<message xmlns='jabber:client' from='carol@example.test/x' to='me@example.test' type='chat'><body>spoof</body></message>";
        let own_inner = "<message xmlns='jabber:client' from='me@example.test/x' to='bob@example.test' type='chat'><body>spoof</body></message>";
        for outer in [
            "bob@example.test/pc",
            "bob@example.test",
            "me@example.test/other",
            "example.test",
            "evil.test/me@example.test",
        ] {
            for (kind, inner) in [("received", inner), ("sent", own_inner)] {
                let m = carbon(outer, kind, inner);
                assert_eq!(
                    classify_message(&own(), m, now()),
                    Inbound::Ignore,
                    "{kind} from {outer}"
                );
            }
        }
        // No `from` at all is not our server either.
        let m = parse(&format!(
            "<message xmlns='jabber:client' type='chat'><received xmlns='urn:xmpp:carbons:2'>\
             <forwarded xmlns='urn:xmpp:forward:0'>{inner}</forwarded></received></message>"
        ));
        assert_eq!(classify_message(&own(), m, now()), Inbound::Ignore);
    }

    #[test]
    fn carbons_with_impossible_addresses_or_no_chat_are_ignored() {
        for (kind, inner) in [
            // "We sent" something that someone else wrote.
            ("sent", "<message xmlns='jabber:client' from='bob@example.test/x' to='carol@example.test' type='chat'><body>x</body></message>"),
            ("sent", "<message xmlns='jabber:client' to='bob@example.test' type='chat'><body>x</body></message>"),
            // "We received" something addressed to someone else.
            ("received", "<message xmlns='jabber:client' from='bob@example.test/x' to='carol@example.test' type='chat'><body>x</body></message>"),
            ("received", "<message xmlns='jabber:client' from='me@example.test/x' to='me@example.test' type='chat'><body>x</body></message>"),
            // Not a chat with a body.
            ("received", "<message xmlns='jabber:client' from='room@muc.example.test/x' to='me@example.test' type='groupchat'><body>x</body></message>"),
            ("received", "<message xmlns='jabber:client' from='bob@example.test/x' to='me@example.test' type='chat'><received xmlns='urn:xmpp:receipts' id='m1'/></message>"),
            ("sent", "<message xmlns='jabber:client' from='me@example.test/x' to='bob@example.test' type='chat'><body></body></message>"),
        ] {
            let m = carbon("me@example.test", kind, inner);
            assert_eq!(classify_message(&own(), m, now()), Inbound::Ignore, "{kind}: {inner}");
        }
    }

    #[test]
    fn private_hint_from_a_peer_is_an_ordinary_chat() {
        let m = parse(
            "<message xmlns='jabber:client' from='bob@example.test/x' type='chat'>\
             <private xmlns='urn:xmpp:carbons:2'/><body>not for your other devices</body></message>",
        );
        assert!(matches!(
            classify_message(&own(), m, now()),
            Inbound::Chat(_)
        ));
    }

    #[test]
    fn chat_states_are_typing_notifications_both_ways() {
        let m = parse(
            "<message xmlns='jabber:client' from='bob@example.test/x' type='chat'>\
             <composing xmlns='http://jabber.org/protocol/chatstates'/></message>",
        );
        assert_eq!(
            classify_message(&own(), m, now()),
            Inbound::Typing {
                from: "bob@example.test".parse().expect("jid"),
                state: TypingState::Composing
            }
        );
        let out = typing_for(
            "bob@example.test".parse().expect("jid"),
            TypingState::Paused,
        );
        let xml = String::from(&tokio_xmpp::minidom::Element::from(out));
        assert!(
            xml.contains("<paused xmlns=\"http://jabber.org/protocol/chatstates\"/>")
                || xml.contains("paused xmlns='http://jabber.org/protocol/chatstates'"),
            "{xml}"
        );
        assert!(!xml.contains("<body"), "{xml}");
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
