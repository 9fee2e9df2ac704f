use super::*;

const ROOM: &str = "tea@conference.example.test";

fn presence(xml: &str) -> Presence {
    let el: Element = xml.parse().expect("xml");
    Presence::try_from(el).expect("presence")
}

fn room() -> BareJid {
    ROOM.parse().expect("jid")
}

#[test]
fn our_own_presence_means_joined_and_201_means_created() {
    let p = presence(
        "<presence xmlns='jabber:client' from='tea@conference.example.test/me'>\
         <x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='owner' role='moderator'/>\
         <status code='110'/><status code='201'/></x></presence>",
    );
    assert_eq!(
        classify_presence(&p, false),
        Some(RoomPresence::Joined {
            nick: "me".into(),
            created: true,
            me: Occupant {
                nick: "me".into(),
                role: "moderator".into(),
                affiliation: "owner".into(),
                jid: None,
            }
        })
    );
}

#[test]
fn a_refused_join_is_typed_and_tells_a_missing_password_from_a_wrong_one() {
    let p = presence(
        "<presence xmlns='jabber:client' type='error' from='tea@conference.example.test/me'>\
         <error type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>",
    );
    assert!(matches!(
        classify_presence(&p, false),
        Some(RoomPresence::Refused {
            error: RoomError::PasswordRequired,
            ..
        })
    ));
    assert!(matches!(
        classify_presence(&p, true),
        Some(RoomPresence::Refused {
            error: RoomError::WrongPassword,
            ..
        })
    ));
    let conflict = presence(
        "<presence xmlns='jabber:client' type='error' from='tea@conference.example.test/me'>\
         <error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>",
    );
    assert!(matches!(
        classify_presence(&conflict, false),
        Some(RoomPresence::Refused {
            error: RoomError::NicknameInUse { suggestion },
            ..
        }) if suggestion == "me2"
    ));
    let other = presence(
        "<presence xmlns='jabber:client' type='error' from='tea@conference.example.test/me'>\
         <error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>",
    );
    match classify_presence(&other, false) {
        Some(RoomPresence::Refused { error, .. }) => assert_eq!(error.condition(), "not-allowed"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn occupants_come_and_go_and_a_kick_or_ban_sends_us_out() {
    let came = presence(
        "<presence xmlns='jabber:client' from='tea@conference.example.test/alice'>\
         <x xmlns='http://jabber.org/protocol/muc#user'>\
         <item affiliation='member' role='participant' jid='alice@example.test/phone'/></x></presence>",
    );
    assert_eq!(
        classify_presence(&came, false),
        Some(RoomPresence::Occupant(Occupant {
            nick: "alice".into(),
            role: "participant".into(),
            affiliation: "member".into(),
            jid: Some("alice@example.test".into()),
        }))
    );
    let kicked = presence(
        "<presence xmlns='jabber:client' type='unavailable' from='tea@conference.example.test/me'>\
         <x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'>\
         <reason>spam</reason></item><status code='307'/><status code='110'/></x></presence>",
    );
    assert_eq!(
        classify_presence(&kicked, false),
        Some(RoomPresence::Out {
            error: Some(RoomError::Kicked {
                reason: Some("spam".into())
            })
        })
    );
    let destroyed = presence(
        "<presence xmlns='jabber:client' type='unavailable' from='tea@conference.example.test/me'>\
         <x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/>\
         <destroy><reason>closing</reason></destroy><status code='110'/></x></presence>",
    );
    assert_eq!(
        classify_presence(&destroyed, false),
        Some(RoomPresence::Out {
            error: Some(RoomError::Destroyed {
                reason: Some("closing".into())
            })
        })
    );
}

#[test]
fn a_room_message_keeps_only_the_rooms_stanza_id_and_ignores_other_rooms() {
    let msg: Element = "<message xmlns='jabber:client' type='groupchat' id='r1' \
        from='tea@conference.example.test/alice'><body>hi</body>\
        <stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.test' id='forged'/>\
        <stanza-id xmlns='urn:xmpp:sid:0' by='tea@conference.example.test' id='s1'/>\
        <origin-id xmlns='urn:xmpp:sid:0' id='o1'/></message>"
        .parse()
        .expect("xml");
    let msg = Message::try_from(msg).expect("message");
    match classify_message(&room(), msg.clone(), Utc::now()) {
        Some(RoomMessage::Said(s)) => {
            assert_eq!(s.stanza_id.as_deref(), Some("s1"));
            assert_eq!(s.origin_id.as_deref(), Some("o1"));
            assert_eq!(s.from.resource().as_str(), "alice");
        }
        other => panic!("{other:?}"),
    }
    let elsewhere: BareJid = "coffee@conference.example.test".parse().expect("jid");
    assert_eq!(classify_message(&elsewhere, msg, Utc::now()), None);
}

#[test]
fn a_join_carries_the_password_and_asks_for_history() {
    let p = join(&room(), "me", Some("secret"), Since::Recent(20)).expect("presence");
    let el: Element = p.into();
    let x = el
        .get_child("x", "http://jabber.org/protocol/muc")
        .expect("muc x");
    assert_eq!(
        x.get_child("password", "http://jabber.org/protocol/muc")
            .map(|p| p.text()),
        Some("secret".into())
    );
    assert_eq!(
        x.get_child("history", "http://jabber.org/protocol/muc")
            .and_then(|h| h.attr("maxstanzas")),
        Some("20")
    );
}

#[test]
fn a_destroyed_room_sends_us_away_even_without_the_self_presence_status() {
    // As ejabberd sends it: no status 110.
    let p = presence(
        "<presence xmlns='jabber:client' from='tea@conference.example.test/me' type='unavailable'>\
         <x xmlns='http://jabber.org/protocol/muc#user'><destroy><reason>bye</reason></destroy>\
         <item role='none' affiliation='none'/></x></presence>",
    );
    assert_eq!(
        classify_presence(&p, false),
        Some(RoomPresence::Out {
            error: Some(RoomError::Destroyed {
                reason: Some("bye".into())
            })
        })
    );
}

#[test]
fn a_taken_nickname_gets_a_number_or_the_next_one() {
    assert_eq!(another_nick("kim"), "kim2");
    assert_eq!(another_nick("kim2"), "kim3");
    assert_eq!(another_nick("r2d2"), "r2d3");
    assert_eq!(another_nick("42"), "422");
    assert_eq!(another_nick("kim99999999999"), "kim100000000000");
    assert_eq!(
        another_nick("kim99999999999999999999"),
        "kim999999999999999999992"
    );
}

#[test]
fn a_nickname_is_mentioned_as_a_word_in_any_case() {
    assert!(mentions("hi Kim!", "kim"));
    assert!(mentions("@kim: look", "kim"));
    assert!(mentions("kim", "Kim"));
    assert!(mentions("ask Anna Lena", "anna lena"));
    assert!(mentions("kimono, kim", "kim"));
    assert!(!mentions("kimono", "kim"));
    assert!(!mentions("akim", "kim"));
    assert!(!mentions("kim2 is here", "kim"));
    assert!(!mentions("anything", ""));
    assert!(mentions("héllo Émile.", "émile"));
}

#[test]
fn a_direct_invitation_reads_back_and_its_bounce_is_no_invitation() {
    let room: BareJid = "tea@conference.example.test".parse().expect("jid");
    let bob: BareJid = "bob@example.test".parse().expect("jid");
    let mut msg = invite_direct(&room, &bob, Some("pw"), Some("tea?"));
    msg.from = Some("alice@example.test/phone".parse().expect("jid"));
    let got = invitation(&msg).expect("an invitation");
    assert_eq!(got.room, room);
    assert_eq!(got.from.to_string(), "alice@example.test/phone");
    assert_eq!(got.password.as_deref(), Some("pw"));
    assert_eq!(got.reason.as_deref(), Some("tea?"));
    // Bounced back to us with its payload (ejabberd does that).
    msg.type_ = MessageType::Error;
    msg.from = Some(bob.into());
    assert_eq!(invitation(&msg), None);
}
