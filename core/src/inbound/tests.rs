//! Plain messages: chats, receipts, typing, bounces, and what is ignored.

use super::fixture::{now, own, parse};
use super::*;

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
            from: "bob@example.test/x".parse().expect("jid"),
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
fn a_file_is_an_https_link_that_is_the_whole_body() {
    let file_of = |body: &str, url: &str| {
        let m = parse(&format!(
            "<message xmlns='jabber:client' from='bob@example.test/phone' type='chat' id='f'>\
             <body>{body}</body><x xmlns='jabber:x:oob'><url>{url}</url></x></message>"
        ));
        let Inbound::Chat(c) = classify_message(&own(), m, now()) else {
            panic!("not a chat")
        };
        c.file_url
    };
    let url = "https://up.example.test/share/a.jpg";
    assert_eq!(file_of(url, url).as_deref(), Some(url));
    // Words beside the link stay words; plain HTTP is no file of ours.
    assert_eq!(file_of(&format!("look: {url}"), url), None);
    let plain = "http://up.example.test/share/a.jpg";
    assert_eq!(file_of(plain, plain), None);
}
