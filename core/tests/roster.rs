//! Contacts and presence permission (RFC 6121) against a real Prosody:
//! asking, approving both ways, roster pushes to another device of the
//! account, removal, and roster versioning across a restart.
//!
//! A spoofed roster push (from another user) cannot be produced through a
//! real server (Prosody stamps the sender), so that refusal is tested on
//! raw XML in `roster.rs`'s unit tests.

mod common;

use std::path::Path;

use common::*;
use jabberkit::{Contact, Error, Event, Subscription};
use jabberkit_testkit::server::TestServer;

/// Waits (on RosterChanged events) until `f` holds for the account's roster.
async fn wait_roster(a: &mut Account, what: &str, f: impl Fn(&[Contact]) -> bool) -> Vec<Contact> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let roster = a.client.roster().expect("roster");
        if f(&roster) {
            return roster;
        }
        match tokio::time::timeout_at(deadline, a.events.recv()).await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("events closed while waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what}; roster: {roster:?}"),
        }
    }
}

fn find<'a>(roster: &'a [Contact], jid: &str) -> Option<&'a Contact> {
    roster.iter().find(|c| c.jid == jid)
}

fn is(roster: &[Contact], jid: &str, sub: Subscription) -> bool {
    find(roster, jid).is_some_and(|c| c.subscription == sub && !c.ask && !c.pending_in)
}

/// The roster version stored in the account's store (read beside the client).
/// The roster version in the store file, read with SQLite itself (the
/// store's API is not public).
fn stored_ver(dir: &Path) -> Option<String> {
    use rusqlite::OptionalExtension;
    let db = rusqlite::Connection::open(dir.join(jabberkit::STORE_FILE)).expect("store");
    db.query_row("SELECT ver FROM roster_meta WHERE id = 1", [], |row| {
        row.get(0)
    })
    .optional()
    .expect("ver")
    .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_need_permission_both_ways_and_survive_a_restart() {
    init_logs();
    let server = TestServer::start().await;
    let alice_jid = server.register("alice", PASSWORD).await;
    let bob_jid = server.register("bob", PASSWORD).await;
    let dirs = [(); 3].map(|_| tempfile::tempdir().expect("tmp"));
    let mut alice = open(&server, &format!("{alice_jid}/phone"), dirs[0].path());
    let mut laptop = open(&server, &format!("{alice_jid}/laptop"), dirs[1].path());
    let mut bob = open(&server, &bob_jid, dirs[2].path());

    // Offline, contact calls are refused, not queued.
    assert!(matches!(
        alice.client.add_contact(&bob_jid, None),
        Err(Error::NotConnected)
    ));
    online(&mut alice).await;
    online(&mut laptop).await;
    online(&mut bob).await;
    assert_eq!(alice.client.roster().expect("roster"), []);

    // alice asks; bob is asked; nothing is answered for him.
    alice
        .client
        .add_contact(&bob_jid, Some("Bob"))
        .expect("add");
    let request = bob
        .wait_for("request", |e| {
            matches!(e, Event::SubscriptionRequest { .. })
        })
        .await;
    assert!(
        matches!(&request, Event::SubscriptionRequest { from } if *from == alice_jid),
        "{request:?}"
    );
    let roster = wait_roster(&mut bob, "alice pending", |r| {
        find(r, &alice_jid).is_some_and(|c| c.pending_in)
    })
    .await;
    assert_eq!(
        find(&roster, &alice_jid).expect("alice").subscription,
        Subscription::None
    );
    let asked = |r: &[Contact]| {
        find(r, &bob_jid).is_some_and(|c| {
            c.ask && c.subscription == Subscription::None && c.name.as_deref() == Some("Bob")
        })
    };
    wait_roster(&mut alice, "bob asked", asked).await;
    // The other device of the account gets the same pushes.
    wait_roster(&mut laptop, "bob asked on the laptop", asked).await;

    // bob approves, which also asks alice; she approves too.
    bob.client.approve(&alice_jid).expect("approve");
    let request = alice
        .wait_for("bob's request", |e| {
            matches!(e, Event::SubscriptionRequest { .. })
        })
        .await;
    assert!(
        matches!(&request, Event::SubscriptionRequest { from } if *from == bob_jid),
        "{request:?}"
    );
    alice.client.approve(&bob_jid).expect("approve");
    let alice_roster = wait_roster(&mut alice, "bob both", |r| {
        is(r, &bob_jid, Subscription::Both)
    })
    .await;
    assert_eq!(alice_roster.len(), 1, "{alice_roster:?}");
    wait_roster(&mut bob, "alice both", |r| {
        is(r, &alice_jid, Subscription::Both)
    })
    .await;
    wait_roster(&mut laptop, "bob both on the laptop", |r| {
        is(r, &bob_jid, Subscription::Both)
    })
    .await;

    // A restart: the roster shows before connecting, and the next fetch,
    // with the stored version, transfers nothing.
    alice.client.disconnect().await;
    drop(alice);
    let ver = stored_ver(dirs[0].path());
    assert!(ver.as_deref().is_some_and(|v| !v.is_empty()), "{ver:?}");
    let mut alice = open(&server, &format!("{alice_jid}/phone"), dirs[0].path());
    assert_eq!(alice.client.roster().expect("roster"), alice_roster);
    alice.client.connect().expect("connect");
    alice.wait_online().await;
    // A round trip through bob orders everything the fetch caused before
    // his answer on alice's stream.
    alice.client.send(&bob_jid, "ping").expect("send");
    bob.receive_all(&["ping".into()], WAIT).await;
    bob.client.send(&alice_jid, "pong").expect("send");
    let changed = tokio::time::timeout(WAIT, async {
        let mut changed = false;
        loop {
            match alice.events.recv().await.expect("events") {
                Event::RosterChanged => changed = true,
                Event::Message(m) if m.body == "pong" => return changed,
                _ => {}
            }
        }
    })
    .await
    .expect("pong");
    assert!(
        !changed,
        "the fetch with a current version changed the roster"
    );
    assert_eq!(alice.client.roster().expect("roster"), alice_roster);
    assert_eq!(stored_ver(dirs[0].path()), ver);

    // Rename and regroup on the phone: the laptop sees it too.
    let groups = vec!["Work".to_owned(), "Chess club".to_owned()];
    alice
        .client
        .update_contact(&bob_jid, Some("Bob B."), &groups)
        .expect("update");
    for device in [&mut alice, &mut laptop] {
        let roster = wait_roster(device, "bob renamed", |r| {
            find(r, &bob_jid).is_some_and(|c| c.name.as_deref() == Some("Bob B."))
        })
        .await;
        let bob = find(&roster, &bob_jid).expect("bob");
        let mut got = bob.groups.clone();
        got.sort();
        assert_eq!(got, ["Chess club", "Work"], "{bob:?}");
        assert_eq!(bob.subscription, Subscription::Both, "{bob:?}");
    }
    assert!(matches!(
        alice
            .client
            .update_contact(&bob_jid, None, &[" ".to_owned()]),
        Err(jabberkit::Error::InvalidInput { .. })
    ));

    // bob revokes alice's permission: she no longer sees him, he still sees her.
    bob.client.deny(&alice_jid).expect("revoke");
    wait_roster(&mut alice, "bob revoked", |r| {
        is(r, &bob_jid, Subscription::From)
    })
    .await;
    wait_roster(&mut bob, "alice revoked", |r| {
        is(r, &alice_jid, Subscription::To)
    })
    .await;

    // Removal: gone on both devices; bob keeps alice, without permissions.
    alice.client.remove_contact(&bob_jid).expect("remove");
    wait_roster(&mut alice, "bob removed", |r| r.is_empty()).await;
    wait_roster(&mut laptop, "bob removed on the laptop", |r| r.is_empty()).await;
    wait_roster(&mut bob, "alice unsubscribed", |r| {
        is(r, &alice_jid, Subscription::None)
    })
    .await;
    assert_ne!(stored_ver(dirs[0].path()), ver);

    alice.client.disconnect().await;
    laptop.client.disconnect().await;
    bob.client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_request_is_forgotten_and_grants_nothing() {
    init_logs();
    let server = TestServer::start().await;
    let alice_jid = server.register("alice", PASSWORD).await;
    let bob_jid = server.register("bob", PASSWORD).await;
    let dirs = [(); 2].map(|_| tempfile::tempdir().expect("tmp"));
    let mut alice = open(&server, &alice_jid, dirs[0].path());
    let mut bob = open(&server, &bob_jid, dirs[1].path());
    online(&mut alice).await;
    online(&mut bob).await;
    alice.client.add_contact(&bob_jid, None).expect("add");
    bob.wait_for("request", |e| {
        matches!(e, Event::SubscriptionRequest { .. })
    })
    .await;
    bob.client.deny(&alice_jid).expect("deny");
    wait_roster(&mut bob, "request forgotten", |r| r.is_empty()).await;
    // alice's ask is answered: no longer pending, no permission.
    wait_roster(&mut alice, "ask refused", |r| {
        is(r, &bob_jid, Subscription::None)
    })
    .await;
    alice.client.disconnect().await;
    bob.client.disconnect().await;
}
