//! XEP-0280 carbons: copies of what our other devices sent and received,
//! which only our own server may send us (see the module doc).

use chrono::{DateTime, Utc};
use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::parsers::carbons;
use tokio_xmpp::parsers::displayed_markers::Displayed;
use tokio_xmpp::parsers::message::{Message, MessageType};

use super::{body_of, clamp, ids_of, Chat, Inbound, OwnCopy};

/// A message with a carbons payload. Only our own server may send one, from
/// our bare JID; anything else is a forgery and is dropped whole.
pub(super) fn classify_carbon(own: &BareJid, mut msg: Message, now: DateTime<Utc>) -> Inbound {
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
    // An invitation (its body is the server's prose) is no chat message:
    // the device it reached announces it.
    if super::carries_invitation(&inner) {
        return Inbound::Ignore;
    }
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
                from: from.clone(),
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
    let file_url = ids.file_of(&body);
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
            file_url,
        }),
        (true, true, false) => Inbound::CarbonSent(OwnCopy {
            to: to.to_bare(),
            origin_id: ids.origin_id,
            remote_id,
            body,
            timestamp: clamp(delay, now),
            replace,
            file_url,
        }),
        _ => {
            tracing::warn!(%from, %to, sent, "dropped a carbon with impossible addresses");
            Inbound::Ignore
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::classify_message;
    use crate::inbound::fixture::{now, own, parse};

    /// A carbon wrapper (`kind` = received or sent) from `outer` around `inner`.
    fn carbon(outer: &str, kind: &str, inner: &str) -> Message {
        parse(&format!(
            "<message xmlns='jabber:client' from='{outer}' to='me@example.test/phone' type='chat'>\
             <{kind} xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>{inner}</forwarded></{kind}></message>"
        ))
    }

    #[test]
    fn a_carbon_of_an_invitation_is_no_chat_message() {
        let m = carbon(
            "me@example.test",
            "received",
            "<message xmlns='jabber:client' from='bob@example.test/pc' to='me@example.test/laptop'>\
             <body>join us</body>\
             <x xmlns='jabber:x:conference' jid='tea@conference.example.test'/></message>",
        );
        assert!(matches!(
            classify_message(&own(), m, now()),
            Inbound::Ignore
        ));
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
                file_url: None,
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
}
