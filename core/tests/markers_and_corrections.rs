//! Read state (XEP-0333 chat markers) and last-message correction
//! (XEP-0308) against a real Prosody, with two devices of one account
//! (alice/phone, alice/laptop) and a peer (bob): reading on one device
//! clears the unread count on the other and shows bob his messages as read;
//! a correction reaches the peer and our other device, and one made while
//! its message still waits follows it; only a message's own sender can
//! correct it, and a message naming itself is just a message.

mod common;

use std::time::Duration;

use common::*;
use jabberkit::{DeliveryState, Direction, Error, Event};
use jabberkit_testkit::server::TestServer;
use tokio_xmpp::parsers::message::Id;
use tokio_xmpp::parsers::message_correct::Replace;

/// Leaves time for a late duplicate or a wrongly applied correction.
const SETTLE: Duration = Duration::from_secs(2);

fn unread(a: &Account, with: &str) -> u32 {
    a.client
        .conversations()
        .expect("conversations")
        .into_iter()
        .find(|c| c.with == with)
        .map_or(0, |c| c.unread)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_on_one_device_clears_unread_everywhere_and_shows_the_sender_read() {
    let server = TestServer::start().await;
    let Devices {
        mut phone,
        mut laptop,
        mut bob,
        alice_jid,
        bob_jid,
        ..
    } = devices(&server).await;

    let bodies = ["one", "two", "three"].map(String::from);
    let mut ids = Vec::new();
    for body in &bodies {
        ids.push(bob.client.send(&alice_jid, body).expect("send"));
    }
    for device in [&mut phone, &mut laptop] {
        let got = device.receive_all(&bodies, WAIT).await;
        assert!(got.values().all(|&n| n == 1), "{got:?}");
    }
    bob.wait_states(&ids, DeliveryState::Acked).await;
    assert_eq!(unread(&phone, &bob_jid), 3);
    assert_eq!(unread(&laptop, &bob_jid), 3);

    // The user reads the conversation on the laptop.
    assert_eq!(laptop.client.mark_read(&bob_jid).expect("mark"), 3);
    assert_eq!(unread(&laptop, &bob_jid), 0);

    // bob sees all three read (the marker names the newest; the older
    // ones are read with it).
    bob.wait_states(&ids, DeliveryState::Read).await;
    for id in &ids {
        let m = bob.client.message(id).expect("read").expect("stored");
        assert_eq!(m.state, DeliveryState::Read, "{m:?}");
    }
    // The phone learns it from the carbon of the marker.
    phone
        .wait_for(
            "conversation read elsewhere",
            |e| matches!(e, Event::ConversationRead { with } if *with == bob_jid),
        )
        .await;
    assert_eq!(unread(&phone, &bob_jid), 0);

    // A marker from someone else than the peer changes nothing: alice's
    // own messages to bob cannot be marked read by carol.
    let carol = server.register("carol", PASSWORD).await;
    let to_bob = phone.client.send(&bob_jid, "for bob only").expect("send");
    phone
        .wait_states(std::slice::from_ref(&to_bob), DeliveryState::Acked)
        .await;
    let forged = message(&format!("{carol}/x"), &format!("{alice_jid}/phone"), None).with_payload(
        tokio_xmpp::parsers::displayed_markers::Displayed {
            id: Id(to_bob.clone()),
        },
    );
    inject(&server, forged).await;
    tokio::time::sleep(SETTLE).await;
    let m = phone
        .client
        .message(&to_bob)
        .expect("read")
        .expect("stored");
    assert_ne!(m.state, DeliveryState::Read, "{m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_of_the_last_message_reaches_the_peer_and_our_other_device() {
    let server = TestServer::start().await;
    let Devices {
        mut phone,
        mut laptop,
        mut bob,
        alice_jid,
        bob_jid,
        ..
    } = devices(&server).await;

    // "Last" is by arrival: let the laptop's greeting (a carbon) land first.
    while !stored_bodies(&phone.client, &bob_jid, Direction::Outgoing).contains_key("laptop here") {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first = phone
        .client
        .send(&bob_jid, "see you at nine")
        .expect("send");
    let id = phone.client.send(&bob_jid, "helo wrld").expect("send");
    let on_bob = wait_message(&mut bob, "helo wrld", Direction::Incoming).await;
    let on_laptop = wait_message(&mut laptop, "helo wrld", Direction::Outgoing).await;
    phone
        .wait_states(std::slice::from_ref(&id), DeliveryState::Acked)
        .await;

    // Only our last message in the conversation can be corrected.
    assert!(matches!(
        phone.client.correct(&first, "see you at ten"),
        Err(Error::InvalidInput { .. })
    ));
    let incoming = phone.client.history(&bob_jid, None, 50).expect("history");
    let theirs = incoming.iter().find(|m| m.direction == Direction::Incoming);
    if let Some(theirs) = theirs {
        assert!(matches!(
            phone.client.correct(&theirs.id, "not mine"),
            Err(Error::InvalidInput { .. })
        ));
    }
    assert!(matches!(
        phone.client.correct("no-such-id", "x"),
        Err(Error::InvalidInput { .. })
    ));

    let corrected = phone.client.correct(&id, "hello world").expect("correct");
    assert_eq!(corrected.body, "hello world");
    assert!(corrected.corrected);
    assert_eq!(corrected.id, id);

    // bob: the same message, new body; no second message.
    let seen = bob
        .wait_for(
            "correction on bob",
            |e| matches!(e, Event::MessageCorrected(m) if m.id == on_bob.id),
        )
        .await;
    let Event::MessageCorrected(seen) = seen else {
        unreachable!()
    };
    assert_eq!(seen.body, "hello world");
    assert!(seen.corrected);
    // The laptop's copy of our message is corrected too (sent carbon).
    laptop
        .wait_for("correction on the laptop", |e| {
            matches!(e, Event::MessageCorrected(m) if m.id == on_laptop.id && m.body == "hello world")
        })
        .await;
    tokio::time::sleep(SETTLE).await;
    let stored = stored_bodies(&bob.client, &alice_jid, Direction::Incoming);
    assert_eq!(stored.get("hello world"), Some(&1), "{stored:?}");
    assert_eq!(stored.get("helo wrld"), None, "{stored:?}");
    // Search follows the new body.
    let hits = bob.client.search("world", 10).expect("search");
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].message.id, on_bob.id);
    assert!(bob.client.search("wrld", 10).expect("search").is_empty());
    // The correction was acked and is not sent again on a new session.
    phone.client.disconnect().await;
    phone.client.connect().expect("connect");
    phone.wait_online().await;
    tokio::time::sleep(SETTLE).await;
    while let Ok(e) = bob.events.try_recv() {
        assert!(!matches!(e, Event::MessageCorrected(_)), "{e:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_sender_corrects_and_a_message_never_corrects_itself() {
    let server = TestServer::start().await;
    let Devices {
        mut phone,
        alice_jid,
        bob_jid,
        ..
    } = devices(&server).await;
    let carol = server.register("carol", PASSWORD).await;
    let phone_jid = format!("{alice_jid}/phone");

    // bob's message, as bob's client sends it: its @id is known.
    let original = message(&format!("{bob_jid}/desk"), &phone_jid, Some("meet at noon"));
    let original_id = original.id.clone().expect("id").0;
    inject(&server, original).await;
    let stored = wait_message(&mut phone, "meet at noon", Direction::Incoming).await;

    // carol "corrects" bob's message: a new message from carol, bob's stays.
    let spoof = message(&format!("{carol}/x"), &phone_jid, Some("meet at midnight")).with_payload(
        Replace {
            id: Id(original_id.clone()),
        },
    );
    inject(&server, spoof).await;
    let spoofed = wait_message(&mut phone, "meet at midnight", Direction::Incoming).await;
    assert_eq!(spoofed.conversation, carol);
    assert!(!spoofed.corrected);

    // A message whose replace names its own id is just a message.
    let mut selfish = message(&format!("{bob_jid}/desk"), &phone_jid, Some("i am myself"));
    let own_id = selfish.id.clone().expect("id");
    selfish = selfish.with_payload(Replace { id: own_id });
    inject(&server, selfish).await;
    let itself = wait_message(&mut phone, "i am myself", Direction::Incoming).await;
    assert!(!itself.corrected);

    // bob's real correction applies to bob's message.
    let fix = message(&format!("{bob_jid}/desk"), &phone_jid, Some("meet at one")).with_payload(
        Replace {
            id: Id(original_id),
        },
    );
    inject(&server, fix).await;
    phone
        .wait_for("bob's correction", |e| {
            matches!(e, Event::MessageCorrected(m) if m.id == stored.id && m.body == "meet at one")
        })
        .await;
    tokio::time::sleep(SETTLE).await;
    let from_bob = stored_bodies(&phone.client, &bob_jid, Direction::Incoming);
    assert_eq!(from_bob.get("meet at one"), Some(&1), "{from_bob:?}");
    assert_eq!(from_bob.get("meet at noon"), None, "{from_bob:?}");
    assert_eq!(from_bob.get("i am myself"), Some(&1), "{from_bob:?}");
    let from_carol = stored_bodies(&phone.client, &carol, Direction::Incoming);
    assert_eq!(
        from_carol.get("meet at midnight"),
        Some(&1),
        "{from_carol:?}"
    );
}

/// A conversation read while offline, then the app killed before it ever
/// connected again: the marker waited in the store and reaches bob with
/// the next session (it used to be kept in memory and lost).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marker_queued_offline_survives_an_app_kill() {
    let server = TestServer::start().await;
    let Pair {
        mut alice,
        mut bob,
        alice_jid,
        bob_jid,
        dirs,
    } = pair(&server).await;
    for a in [&mut alice, &mut bob] {
        a.client.connect().expect("connect");
        a.wait_online().await;
    }
    let id = bob.client.send(&alice_jid, "read me later").expect("send");
    alice.receive_all(&["read me later".into()], WAIT).await;
    bob.wait_states(std::slice::from_ref(&id), DeliveryState::Delivered)
        .await;

    // Offline, the user reads it; then the process dies.
    alice.client.disconnect().await;
    assert_eq!(alice.client.mark_read(&bob_jid).expect("mark"), 1);
    drop(alice);

    let mut alice = open(&server, &format!("{alice_jid}/phone"), dirs[0].path());
    alice.client.connect().expect("connect");
    alice.wait_online().await;
    bob.wait_states(std::slice::from_ref(&id), DeliveryState::Read)
        .await;
}

/// A message corrected before it ever left (offline), then the app
/// killed: both wait in the send queue, the correction behind the message.
/// The next session sends the message (with the corrected body) and, once
/// the server has it, the correction: bob has one message, never a
/// correction of something he does not have; nothing stays queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_of_a_queued_message_follows_it_after_an_app_kill() {
    let server = TestServer::start().await;
    let Pair {
        mut alice,
        mut bob,
        alice_jid,
        bob_jid,
        dirs,
    } = pair(&server).await;
    for a in [&mut alice, &mut bob] {
        a.client.connect().expect("connect");
        a.wait_online().await;
    }
    alice.client.disconnect().await;
    let id = alice.client.send(&bob_jid, "helo wrld").expect("send");
    alice.client.correct(&id, "hello world").expect("correct");
    drop(alice);

    let mut alice = open(&server, &format!("{alice_jid}/phone"), dirs[0].path());
    alice.client.connect().expect("connect");
    alice.wait_online().await;
    wait_message(&mut bob, "hello world", Direction::Incoming).await;
    alice
        .wait_states(std::slice::from_ref(&id), DeliveryState::Acked)
        .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while queued(dirs[0].path()) > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the correction never left"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(SETTLE).await;
    let stored = stored_bodies(&bob.client, &alice_jid, Direction::Incoming);
    assert_eq!(stored.get("hello world"), Some(&1), "{stored:?}");
    assert_eq!(stored.get("helo wrld"), None, "{stored:?}");
}

/// How many items wait in the send queue of the store in `dir`, read with
/// SQLite itself (the store's API is not public).
fn queued(dir: &std::path::Path) -> i64 {
    let db = rusqlite::Connection::open(dir.join(jabberkit::STORE_FILE)).expect("store");
    db.query_row("SELECT count(*) FROM send_queue", [], |row| row.get(0))
        .expect("count")
}
