use super::*;

fn message(xml: &str) -> Message {
    let el: Element = xml.parse().expect("xml");
    Message::try_from(el).expect("message")
}

fn own() -> BareJid {
    "alice@example.test".parse().expect("jid")
}

#[test]
fn a_published_bookmark_reads_back() {
    let b = Bookmark {
        room: "tea@conference.example.test".parse().expect("jid"),
        nick: Some("alice".into()),
        password: Some("pw".into()),
        autojoin: true,
    };
    let Iq::Set { payload, .. } = publish(&b, "1") else {
        panic!("a set");
    };
    let xml = String::from(&payload);
    assert!(xml.contains("whitelist"), "{xml}");
    // The same item, as a fetch answers it.
    let publish = payload.get_child("publish", PUBSUB).expect("publish");
    let answer = Element::builder("pubsub", PUBSUB)
        .append(
            Element::builder("items", PUBSUB)
                .attr(xml_ncname!("node").into(), NODE)
                .append_all(publish.children().cloned())
                .build(),
        )
        .build();
    assert_eq!(fetched(Some(answer)), vec![b]);
}

#[test]
fn only_our_own_accounts_notifications_count() {
    let xml = |from: &str| {
        format!(
            "<message xmlns='jabber:client' from='{from}' type='headline'>\
             <event xmlns='http://jabber.org/protocol/pubsub#event'>\
             <items node='urn:xmpp:bookmarks:1'>\
             <item id='tea@conference.example.test'>\
             <conference xmlns='urn:xmpp:bookmarks:1' autojoin='true'><nick>al</nick></conference></item>\
             <retract id='old@conference.example.test'/>\
             </items></event></message>"
        )
    };
    let changes = changes(&own(), &message(&xml("alice@example.test"))).expect("ours");
    assert_eq!(changes.len(), 2);
    assert!(matches!(&changes[0], Change::Set(b) if b.autojoin && b.nick.as_deref() == Some("al")));
    assert!(
        matches!(&changes[1], Change::Removed(r) if r.as_str() == "old@conference.example.test")
    );
    assert!(super::changes(&own(), &message(&xml("mallory@example.test"))).is_none());
    assert!(super::changes(&own(), &message(&xml("alice@example.test/other"))).is_none());
}

#[test]
fn legacy_bookmarks_go_out_and_come_back_whole() {
    let tea = Bookmark {
        room: "tea@conference.example.test".parse().expect("jid"),
        nick: Some("kim".into()),
        password: Some("secret".into()),
        autojoin: true,
    };
    let old = Bookmark {
        room: "old@conference.example.test".parse().expect("jid"),
        nick: None,
        password: None,
        autojoin: false,
    };
    let Iq::Set { payload, .. } = legacy::publish([&tea, &old], "p1") else {
        panic!("a set");
    };
    assert_eq!(legacy::fetched(Some(payload)), vec![tea, old]);
    // A service without a room part is no room; nothing readable, none.
    let odd: Element = "<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'>\
         <conference jid='conference.example.test' autojoin='true'/></storage></query>"
        .parse()
        .expect("xml");
    assert!(legacy::fetched(Some(odd)).is_empty());
    assert!(legacy::fetched(None).is_empty());
}
