//! Acting on rooms against a real Prosody (MUC component
//! `conference.example.test`): an invitation through the room carries its
//! password and gets the invitee in; the subject reaches everyone; a
//! participant may not kick, the owner may, then bans; destroying the
//! room sends everyone away. Each refusal is typed.

mod common;

use common::*;
use jabberkit::{Error, Event, RoomConfig, RoomError, Secret};
use jabberkit_testkit::server::{ServerKind, TestServer};

const ROOM: &str = "garden@conference.example.test";

async fn room_event(a: &mut Account, what: &str, f: impl Fn(&Event) -> bool) -> Event {
    a.wait_for(what, |e| f(e)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_invite_set_the_subject_kick_ban_and_destroy_and_others_may_not() {
    init_logs();
    let server = TestServer::start().await;
    let mut p = pair(&server).await;
    // Acting on a room needs the account online.
    assert!(matches!(
        p.alice.client.set_subject(ROOM, "too early"),
        Err(Error::NotConnected)
    ));
    online(&mut p.alice).await;
    online(&mut p.bob).await;
    let bob_jid = p.bob.client.jid();
    p.alice
        .client
        .create_room(
            ROOM,
            "alice",
            RoomConfig {
                password: Some("s3cret".into()),
                persistent: true,
                ..Default::default()
            },
        )
        .expect("create");
    room_joined(&mut p.alice, ROOM).await;

    // The room relays the invitation with its password.
    p.alice
        .client
        .invite(ROOM, &bob_jid, Some("come in"))
        .expect("invite");
    let invite = room_event(&mut p.bob, "invitation", |e| {
        matches!(e, Event::RoomInvite { .. })
    })
    .await;
    let Event::RoomInvite {
        room,
        from,
        password,
        reason,
    } = invite
    else {
        unreachable!()
    };
    assert_eq!(room, ROOM);
    // A semi-anonymous room names the inviter by nick, not real JID.
    assert!(
        from == format!("{ROOM}/alice") || from.starts_with("alice@example.test"),
        "{from}"
    );
    assert_eq!(reason.as_deref(), Some("come in"));
    assert_eq!(password.as_ref().map(Secret::expose), Some("s3cret"));
    // The invitation is no chat message.
    assert!(p
        .bob
        .client
        .history(ROOM, None, 10)
        .expect("history")
        .is_empty());
    // Declined (through the room), then accepted after all.
    p.bob
        .client
        .decline_invitation(&room, &from, Some("busy"))
        .expect("decline");
    let declined = room_event(&mut p.alice, "decline", |e| {
        matches!(e, Event::RoomInviteDeclined { .. })
    })
    .await;
    assert!(
        matches!(&declined, Event::RoomInviteDeclined { room, from, reason }
            if room == ROOM && from.starts_with("bob@example.test") && reason.as_deref() == Some("busy")),
        "{declined:?}"
    );
    p.bob
        .client
        .join_room(&room, "bob", password.as_ref().map(Secret::expose))
        .expect("join");
    room_joined(&mut p.bob, ROOM).await;

    p.alice.client.set_subject(ROOM, "roses").expect("subject");
    room_event(&mut p.bob, "the subject", |e| {
        matches!(e, Event::RoomSubject { room, subject: Some(s) } if room == ROOM && s == "roses")
    })
    .await;

    // A participant may not kick the owner.
    p.bob.client.kick(ROOM, "alice", None).expect("kick");
    let refused = room_event(&mut p.bob, "kick refused", |e| {
        matches!(e, Event::RoomActionFailed { .. })
    })
    .await;
    assert!(
        matches!(&refused, Event::RoomActionFailed { room, action, condition, .. }
            if room == ROOM && action == "kick" && (condition == "not-allowed" || condition == "forbidden")),
        "{refused:?}"
    );

    // The owner may: Bob is out, and may come back.
    p.alice
        .client
        .kick(ROOM, "bob", Some("weeding"))
        .expect("kick");
    assert_eq!(
        room_refused(&mut p.bob, ROOM).await,
        RoomError::Kicked {
            reason: Some("weeding".into())
        }
    );
    p.bob
        .client
        .join_room(ROOM, "bob", Some("s3cret"))
        .expect("join");
    room_joined(&mut p.bob, ROOM).await;

    // Banned, he is out and cannot come back.
    p.alice.client.ban(ROOM, &bob_jid, None).expect("ban");
    assert_eq!(room_refused(&mut p.bob, ROOM).await, RoomError::Banned);
    p.bob
        .client
        .join_room(ROOM, "bob", Some("s3cret"))
        .expect("join");
    assert_eq!(room_refused(&mut p.bob, ROOM).await, RoomError::Banned);
    // His bookmark on the server says so: his other devices stop entering.
    if server.kind() == ServerKind::Prosody {
        bookmark_is_not_autojoin(&server).await;
    }

    // Only the owner may destroy it; then it sends the owner away too.
    p.alice
        .client
        .destroy_room(ROOM, Some("season over"))
        .expect("destroy");
    assert_eq!(
        room_refused(&mut p.alice, ROOM).await,
        RoomError::Destroyed {
            reason: Some("season over".into())
        }
    );
}

/// Bob's bookmark of the room, read in Prosody's PEP store, is no longer
/// autojoin.
/// Polled: the refusal event reaches the test before the publication
/// that follows it reaches the server.
async fn bookmark_is_not_autojoin(server: &TestServer) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let bookmark = server
            .shell(
                "> local ok, items = prosody.hosts['example.test'].modules.pep.get_pep_service('bob')\
                 :get_items('urn:xmpp:bookmarks:1', true); \
                 return tostring(items and items['garden@conference.example.test'])",
            )
            .await;
        assert!(bookmark.contains("conference"), "{bookmark}");
        if !bookmark.contains("autojoin='true'") && !bookmark.contains("autojoin='1'") {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still autojoin: {bookmark}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A direct invitation (XEP-0249) goes to the invitee from us, with the
/// room's password, and gets them in; one to an account that does not
/// exist is refused by its server, and the app hears of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_invitation_carries_the_password_and_a_refused_one_is_announced() {
    init_logs();
    let server = TestServer::start().await;
    let mut p = pair(&server).await;
    online(&mut p.alice).await;
    online(&mut p.bob).await;
    let bob_jid = p.bob.client.jid();
    let config = RoomConfig {
        password: Some("s3cret".into()),
        persistent: true,
        ..Default::default()
    };
    p.alice
        .client
        .create_room(ROOM, "alice", config)
        .expect("create");
    room_joined(&mut p.alice, ROOM).await;

    p.alice
        .client
        .invite_direct(ROOM, &bob_jid, Some("tea?"))
        .expect("invite");
    let Event::RoomInvite {
        room,
        from,
        password,
        reason,
    } = room_event(&mut p.bob, "invitation", |e| {
        matches!(e, Event::RoomInvite { .. })
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(room, ROOM);
    assert_eq!(from, format!("{}/phone", p.alice_jid), "from alice herself");
    assert_eq!(password.as_ref().map(Secret::expose), Some("s3cret"));
    assert_eq!(reason.as_deref(), Some("tea?"));
    p.bob
        .client
        .join_room(&room, "bob", password.as_ref().map(Secret::expose))
        .expect("join");
    room_joined(&mut p.bob, ROOM).await;

    let nobody = format!("nobody@{}", server.domain());
    p.alice
        .client
        .invite_direct(ROOM, &nobody, None)
        .expect("invite");
    let failed = room_event(&mut p.alice, "the refusal", |e| {
        matches!(e, Event::RoomActionFailed { .. })
    })
    .await;
    assert!(
        matches!(&failed, Event::RoomActionFailed { room, action, .. }
            if room == ROOM && action == "invite"),
        "{failed:?}"
    );
    p.alice.client.disconnect().await;
    p.bob.client.disconnect().await;
}
