//! Bookmarks against the store, on scripted XML.

use super::*;
use crate::session::fixture::fixture;
use tokio_xmpp::parsers::iq::Iq;

const ROOM: &str = "tea@conference.example.test";

fn answer(items: &str) -> Option<Element> {
    Some(
        format!(
            "<pubsub xmlns='http://jabber.org/protocol/pubsub'>\
             <items node='urn:xmpp:bookmarks:1'>{items}</items></pubsub>"
        )
        .parse()
        .expect("xml"),
    )
}

fn item(autojoin: bool) -> String {
    format!(
        "<item id='{ROOM}'><conference xmlns='urn:xmpp:bookmarks:1' autojoin='{autojoin}'>\
         <nick>al</nick><password>pw</password></conference></item>"
    )
}

fn notification(inner: &str) -> Message {
    let el: Element = format!(
        "<message xmlns='jabber:client' from='alice@example.test' type='headline'>\
         <event xmlns='http://jabber.org/protocol/pubsub#event'>\
         <items node='urn:xmpp:bookmarks:1'>{inner}</items></event></message>"
    )
    .parse()
    .expect("xml");
    Message::try_from(el).expect("message")
}

#[test]
fn a_room_bookmarked_elsewhere_is_entered_once_and_left_when_removed() {
    let f = fixture();
    let mut b = Bookmarks::new(f.own.clone(), f.store.clone());
    let effects = b.on_fetched(answer(&item(true)));
    let expected = RoomEntry {
        jid: ROOM.into(),
        nick: "al".into(),
        password: Some("pw".into()),
        autojoin: true,
    };
    assert_eq!(effects, vec![Effect::Enter(expected.clone())]);
    assert_eq!(f.store.room_entry(ROOM).expect("read"), Some(expected));
    // Our own publication coming back changes nothing.
    assert_eq!(b.on_message(&notification(&item(true))), Some(vec![]));
    // Another device leaves it (autojoin off), or removes it.
    let left = b.on_message(&notification(&item(false))).expect("ours");
    assert_eq!(left, vec![Effect::Leave(ROOM.parse().expect("jid"))]);
    assert!(
        !f.store
            .room_entry(ROOM)
            .expect("read")
            .expect("kept")
            .autojoin
    );
    // Removing what we are not in is nothing to do.
    let removed = b
        .on_message(&notification(&format!("<retract id='{ROOM}'/>")))
        .expect("ours");
    assert!(removed.is_empty());
}

#[test]
fn what_changed_here_offline_is_published_on_the_next_session() {
    let f = fixture();
    let mut b = Bookmarks::new(f.own.clone(), f.store.clone());
    f.store
        .upsert_room(&RoomEntry {
            jid: ROOM.into(),
            nick: "al".into(),
            password: None,
            autojoin: true,
        })
        .expect("store");
    assert!(b.changed_here(ROOM, false).is_none());
    let out = b.fresh_session();
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(matches!(
        &out[0],
        Out::Ask {
            request: Request::BookmarkPublish,
            ..
        }
    ));
    assert!(matches!(
        &out[1],
        Out::Ask {
            request: Request::Bookmarks,
            ..
        }
    ));
    assert!(matches!(
        &out[2],
        Out::Ask {
            request: Request::LegacyBookmarks,
            ..
        }
    ));
    // Only once.
    assert_eq!(b.fresh_session().len(), 2);
}

#[test]
fn without_pep_private_storage_is_read_and_written_whole_with_what_changed_offline() {
    let f = fixture();
    let mut b = Bookmarks::new(f.own.clone(), f.store.clone());
    f.store
        .upsert_room(&RoomEntry {
            jid: ROOM.into(),
            nick: "al".into(),
            password: None,
            autojoin: true,
        })
        .expect("store");
    assert!(b.changed_here(ROOM, false).is_none());
    b.fresh_session();
    // PEP is refused: the (already asked) private storage answers next.
    let refused = tokio_xmpp::parsers::stanza_error::StanzaError::new(
        tokio_xmpp::parsers::stanza_error::ErrorType::Cancel,
        tokio_xmpp::parsers::stanza_error::DefinedCondition::ServiceUnavailable,
        "en",
        "",
    );
    b.on_fetch_refused(&refused);
    let other = "den@conference.example.test";
    let stored: Element = format!(
        "<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'>\
         <conference jid='{other}' autojoin='true'><nick>al</nick></conference>\
         </storage></query>"
    )
    .parse()
    .expect("xml");
    let (effects, out) = b.on_legacy_fetched(Some(stored));
    assert!(
        matches!(&effects[..], [Effect::Enter(e)] if e.jid == other),
        "{effects:?}"
    );
    // One write, with both rooms.
    let [Out::Ask {
        iq: Iq::Set { payload, .. },
        request: Request::BookmarkPublish,
        ..
    }] = &out[..]
    else {
        panic!("{out:?}");
    };
    let mut rooms: Vec<String> = crate::bookmarks::legacy::fetched(Some(payload.clone()))
        .into_iter()
        .map(|b| b.room.to_string())
        .collect();
    rooms.sort();
    assert_eq!(rooms, [other, ROOM]);
    // From now on, only private storage is read.
    let next = b.fresh_session();
    assert!(
        matches!(
            &next[..],
            [Out::Ask {
                request: Request::LegacyBookmarks,
                ..
            }]
        ),
        "{next:?}"
    );
}

#[test]
fn an_echo_of_an_older_publication_does_not_undo_a_newer_change() {
    let f = fixture();
    let mut b = Bookmarks::new(f.own.clone(), f.store.clone());
    let entry = |autojoin| RoomEntry {
        jid: ROOM.into(),
        nick: "al".into(),
        password: Some("pw".into()),
        autojoin,
    };
    f.store.upsert_room(&entry(true)).expect("store");
    assert!(b.changed_here(ROOM, true).is_some());
    // Nothing new to publish for the same room again.
    assert!(b.changed_here(ROOM, true).is_none());
    f.store.upsert_room(&entry(false)).expect("store");
    assert!(b.changed_here(ROOM, true).is_some());
    // The server announces the first publication after the second.
    assert_eq!(b.on_message(&notification(&item(true))), Some(vec![]));
    assert!(
        !f.store
            .room_entry(ROOM)
            .expect("read")
            .expect("row")
            .autojoin
    );
    assert_eq!(b.on_message(&notification(&item(false))), Some(vec![]));
}
