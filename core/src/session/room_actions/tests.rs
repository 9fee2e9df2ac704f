//! Room actions and invitations on scripted XML, without a server.

use super::*;
use crate::session::fixture::fixture;
use tokio_xmpp::minidom::Element;

const ROOM: &str = "tea@conference.example.test";

fn message(xml: &str) -> Message {
    let el: Element = xml.parse().expect("xml");
    Message::try_from(el).expect("message")
}

fn iq(xml: &str) -> Iq {
    let el: Element = xml.parse().expect("xml");
    Iq::try_from(el).expect("iq")
}

/// The next event but the hub's initial connection state.
fn next(f: &mut crate::session::fixture::Fixture) -> Event {
    loop {
        match f.events.try_recv().expect("event") {
            Event::ConnectionState(_) => continue,
            other => return other,
        }
    }
}

fn room() -> BareJid {
    ROOM.parse().expect("jid")
}

#[test]
fn a_mediated_invitation_from_the_room_is_announced_with_its_password() {
    let mut f = fixture();
    let actions = RoomActions::new(f.hub.clone());
    let invited = actions.on_invitation(&message(
        "<message xmlns='jabber:client' from='tea@conference.example.test' to='alice@example.test'>\
         <body>bob invites you</body>\
         <x xmlns='http://jabber.org/protocol/muc#user'>\
         <invite from='bob@example.test/phone'><reason>tea time</reason></invite>\
         <password>secret</password></x></message>",
    ));
    assert!(invited);
    match next(&mut f) {
        Event::RoomInvite {
            room,
            from,
            password,
            reason,
        } => {
            assert_eq!(room, ROOM);
            assert_eq!(from, "bob@example.test/phone");
            assert_eq!(password.as_ref().map(Secret::expose), Some("secret"));
            assert_eq!(reason.as_deref(), Some("tea time"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_direct_invitation_names_its_sender_and_a_full_jid_cannot_mediate() {
    let mut f = fixture();
    let actions = RoomActions::new(f.hub.clone());
    assert!(actions.on_invitation(&message(
        "<message xmlns='jabber:client' from='bob@example.test/phone'>\
         <x xmlns='jabber:x:conference' jid='tea@conference.example.test' reason='hi'/></message>",
    )));
    assert!(matches!(
        next(&mut f),
        Event::RoomInvite { room, from, password: None, .. }
            if room == ROOM && from == "bob@example.test/phone"
    ));
    // A "mediated" invitation must come from a room's bare JID.
    assert!(!actions.on_invitation(&message(
        "<message xmlns='jabber:client' from='tea@conference.example.test/mallory'>\
         <x xmlns='http://jabber.org/protocol/muc#user'><invite from='bob@example.test'/></x></message>",
    )));
    // A chat message is no invitation.
    assert!(!actions.on_invitation(&message(
        "<message xmlns='jabber:client' from='bob@example.test/phone'><body>hi</body></message>",
    )));
    assert!(f.events.try_recv().is_err());
}

#[test]
fn a_refused_kick_is_announced_only_when_the_room_answers() {
    let mut f = fixture();
    let mut actions = RoomActions::new(f.hub.clone());
    let mut requests = Requests::default();
    let Out::Ask {
        id,
        iq: sent,
        request,
    } = actions.act(RoomAction::Kick {
        room: room(),
        nick: "bob".into(),
        reason: Some("spam".into()),
    })
    else {
        panic!("a kick is an IQ");
    };
    let xml = String::from(&Element::from(sent));
    assert!(
        xml.contains("muc#admin") && xml.contains("role='none'") && xml.contains("nick='bob'"),
        "{xml}"
    );
    requests.insert(id.clone(), request);
    // Someone else answering with our id is not the room.
    let forged = iq(&format!(
        "<iq xmlns='jabber:client' type='error' id='{id}' from='mallory@example.test'>\
         <error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    ));
    assert!(actions.on_answer(&mut requests, forged).is_err());
    let refused = iq(&format!(
        "<iq xmlns='jabber:client' type='error' id='{id}' from='{ROOM}'>\
         <error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    ));
    assert!(actions.on_answer(&mut requests, refused).is_ok());
    assert!(matches!(
        next(&mut f),
        Event::RoomActionFailed { room, action, condition, .. }
            if room == ROOM && action == "kick" && condition == "not-allowed"
    ));
    assert!(requests.peek(&id).is_none());
}

#[test]
fn a_refused_subject_change_is_announced() {
    let mut f = fixture();
    let mut actions = RoomActions::new(f.hub.clone());
    let Out::Send(tokio_xmpp::Stanza::Message(sent)) = actions.act(RoomAction::Subject {
        room: room(),
        subject: "tea".into(),
    }) else {
        panic!("a subject is a message");
    };
    let id = sent.id.clone().expect("id").0;
    let bounce = message(&format!(
        "<message xmlns='jabber:client' type='error' id='{id}' from='{ROOM}'>\
         <error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
    ));
    assert!(actions.on_error(&bounce));
    assert!(matches!(
        next(&mut f),
        Event::RoomActionFailed { action, condition, .. }
            if action == "set_subject" && condition == "forbidden"
    ));
    // Only once.
    assert!(!actions.on_error(&bounce));
}

#[test]
fn a_refused_invitation_is_announced_and_a_stranger_cannot_fake_it() {
    let mut f = fixture();
    let mut actions = RoomActions::new(f.hub.clone());
    let Out::Send(tokio_xmpp::Stanza::Message(sent)) = actions.act(RoomAction::Invite {
        room: room(),
        to: "bob@example.test".parse().expect("jid"),
        reason: None,
    }) else {
        panic!("an invitation is a message");
    };
    let id = sent.id.clone().expect("id").0;
    let bounce = |from: &str| {
        message(&format!(
            "<message xmlns='jabber:client' type='error' id='{id}' from='{from}'>\
             <error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
        ))
    };
    assert!(!actions.on_error(&bounce("mallory@example.test")));
    assert!(actions.on_error(&bounce(ROOM)));
    assert!(matches!(
        next(&mut f),
        Event::RoomActionFailed { action, condition, .. }
            if action == "invite" && condition == "forbidden"
    ));
}

#[test]
fn only_the_newest_messages_to_rooms_are_remembered() {
    let f = fixture();
    let mut actions = RoomActions::new(f.hub.clone());
    let mut ids = Vec::new();
    for i in 0..=REMEMBERED {
        let Out::Send(tokio_xmpp::Stanza::Message(sent)) = actions.act(RoomAction::Subject {
            room: room(),
            subject: format!("tea {i}"),
        }) else {
            panic!("a subject is a message");
        };
        ids.push(sent.id.expect("id").0);
    }
    assert_eq!(actions.sent.len(), REMEMBERED);
    let bounce = |id: &str| {
        message(&format!(
            "<message xmlns='jabber:client' type='error' id='{id}' from='{ROOM}'>\
             <error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
        ))
    };
    assert!(!actions.on_error(&bounce(&ids[0])), "forgotten");
    assert!(actions.on_error(&bounce(&ids[REMEMBERED])));
}
