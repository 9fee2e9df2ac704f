//! Catching up from the server's archive (XEP-0313 with XEP-0059 paging)
//! against a real Prosody: alice/phone was offline while bob wrote to
//! alice; alice/laptop was online and got those messages live, so the
//! server did not keep them for offline delivery and only the archive can
//! give them to the phone. Messages sent while every device of alice was
//! offline arrive twice (offline storage and archive) and must be stored
//! once.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use jabberkit::{Direction, Event, TlsMode};
use jabberkit_testkit::server::TestServer;

/// Leaves time for a late duplicate to show up.
const SETTLE: Duration = Duration::from_secs(2);

/// Collects events until a catch-up completes; returns every `CatchUp`
/// seen and how often each incoming and outgoing body was announced.
async fn until_caught_up(
    a: &mut Account,
) -> (
    Vec<(u32, bool)>,
    HashMap<String, usize>,
    HashMap<String, usize>,
) {
    let (mut progress, mut incoming, mut outgoing) = (Vec::new(), HashMap::new(), HashMap::new());
    let events = &mut a.events;
    tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await.expect("events closed") {
                Event::CatchUp { fetched, complete } => {
                    progress.push((fetched, complete));
                    if complete {
                        return;
                    }
                }
                Event::Message(m) if m.direction == Direction::Incoming => {
                    *incoming.entry(m.body).or_default() += 1;
                }
                Event::Message(m) => *outgoing.entry(m.body).or_default() += 1,
                _ => {}
            }
        }
    })
    .await
    .expect("timed out waiting for the catch-up to complete");
    (progress, incoming, outgoing)
}

/// The rest of the events already queued: incoming bodies announced.
fn drain_incoming(a: &mut Account, into: &mut HashMap<String, usize>) {
    while let Ok(e) = a.events.try_recv() {
        if let Event::Message(m) = e {
            if m.direction == Direction::Incoming {
                *into.entry(m.body).or_default() += 1;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_catches_up_from_the_archive_once_and_in_order() {
    init_logs();
    let server = TestServer::start().await;
    let alice_jid = server.register("alice", PASSWORD).await;
    let bob_jid = server.register("bob", PASSWORD).await;
    let dirs = [(); 4].map(|_| tempfile::tempdir().expect("tmp"));
    let addr = server.starttls_addr();
    let cfg = |jid: &str, dir: &tempfile::TempDir| {
        config(&server, jid, addr, TlsMode::StartTls, dir.path())
    };
    let phone_cfg = cfg(&format!("{alice_jid}/phone"), &dirs[0]);

    // The phone was online once (its store knows where the archive ended)…
    let mut phone = Account::new(phone_cfg.clone());
    phone.client.connect().expect("connect");
    let (progress, _, _) = until_caught_up(&mut phone).await;
    assert_eq!(progress, [(0, true)], "empty archive");
    phone.client.disconnect().await;
    drop(phone);

    // …then bob writes while only the laptop is online.
    let mut laptop = Account::new(cfg(&format!("{alice_jid}/laptop"), &dirs[1]));
    let mut bob = Account::new(cfg(&bob_jid, &dirs[2]));
    laptop.client.connect().expect("connect");
    bob.client.connect().expect("connect");
    laptop.wait_online().await;
    bob.wait_online().await;
    // A barrier: the laptop's presence is processed before its message.
    laptop.client.send(&bob_jid, "laptop here").expect("send");
    bob.receive_all(&["laptop here".into()], WAIT).await;

    let live: Vec<String> = (1..=120).map(|i| format!("live {i:03}")).collect();
    let mut ids = Vec::new();
    for body in &live {
        ids.push(bob.client.send(&alice_jid, body).expect("send"));
    }
    let seen = laptop.receive_all(&live, WAIT * 2).await;
    assert!(
        seen.values().all(|&n| n == 1),
        "laptop duplicates: {seen:?}"
    );
    laptop.client.send(&bob_jid, "laptop reply").expect("send");
    bob.receive_all(&["laptop reply".into()], WAIT).await;
    laptop.client.disconnect().await;
    // Archive stamps have whole seconds: keep the phases apart.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // With no device of alice online, the server stores these offline as
    // well as in the archive: the phone gets both copies.
    let offline: Vec<String> = (1..=10).map(|i| format!("offline {i}")).collect();
    let mut offline_ids = Vec::new();
    for body in &offline {
        offline_ids.push(bob.client.send(&alice_jid, body).expect("send"));
    }
    bob.wait_states(&offline_ids, jabberkit::DeliveryState::Acked)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut phone = Account::new(phone_cfg.clone());
    phone.client.connect().expect("connect");
    let (progress, mut incoming, outgoing) = until_caught_up(&mut phone).await;
    tokio::time::sleep(SETTLE).await;
    drain_incoming(&mut phone, &mut incoming);
    let (fetched, complete) = *progress.last().expect("progress");
    assert!(complete);
    // 120 + 10 from bob, "laptop reply" (and possibly the barrier, which the
    // server archived before the phone's first catch-up ended).
    assert!(fetched >= 131, "fetched {fetched}: {progress:?}");
    // One event per page of at most 250. Prosody archives the laptop's
    // receipts too, so here that is more than one page.
    let pages = fetched.div_ceil(250) as usize;
    assert!(
        (pages..=pages + 1).contains(&progress.len()),
        "{progress:?}"
    );
    assert!(progress.windows(2).all(|w| w[0].0 < w[1].0), "{progress:?}");
    assert!(
        progress.iter().filter(|(_, c)| *c).count() == 1,
        "{progress:?}"
    );
    let mut expected: Vec<String> = live.clone();
    expected.extend(offline.iter().cloned());
    for body in &expected {
        assert_eq!(
            incoming.get(body),
            Some(&1),
            "{body} announced; progress {progress:?}"
        );
    }
    assert_eq!(outgoing.get("laptop reply"), Some(&1), "{outgoing:?}");
    let stored = stored_bodies(&phone.client, &bob_jid, Direction::Incoming);
    assert_eq!(stored.len(), expected.len(), "{stored:?}");
    assert!(stored.values().all(|&n| n == 1), "duplicates: {stored:?}");
    let history: Vec<String> = phone
        .client
        .history(&bob_jid, None, 1000)
        .expect("history")
        .into_iter()
        .filter(|m| m.direction == Direction::Incoming)
        .map(|m| m.body)
        .collect();
    assert_eq!(history, expected, "history out of order");
    let rows = phone.client.history(&bob_jid, None, 1000).expect("history");
    let reply: Vec<_> = rows.iter().filter(|m| m.body == "laptop reply").collect();
    assert_eq!(reply.len(), 1);
    assert_eq!(reply[0].direction, Direction::Outgoing);
    assert_eq!(reply[0].state, jabberkit::DeliveryState::Acked);
    phone.client.disconnect().await;
    drop(phone);

    // A fresh session later: nothing new in the archive, nothing stored twice.
    let mut phone = Account::new(phone_cfg);
    phone.client.connect().expect("connect");
    let (progress, incoming, outgoing) = until_caught_up(&mut phone).await;
    assert_eq!(progress, [(0, true)]);
    assert!(
        incoming.is_empty() && outgoing.is_empty(),
        "{incoming:?} {outgoing:?}"
    );
    let again = stored_bodies(&phone.client, &bob_jid, Direction::Incoming);
    assert_eq!(again, stored);

    // A first login elsewhere fetches only the most recent window.
    let mut tablet_cfg = cfg(&format!("{alice_jid}/tablet"), &dirs[3]);
    tablet_cfg.catch_up_first_login = 50;
    let mut tablet = Account::new(tablet_cfg);
    tablet.client.connect().expect("connect");
    let (progress, _, _) = until_caught_up(&mut tablet).await;
    // Prosody archives receipts too: the window holds fewer messages.
    assert_eq!(progress, [(50, true)]);
    let history: Vec<String> = tablet
        .client
        .history(&bob_jid, None, 1000)
        .expect("history")
        .into_iter()
        .filter(|m| m.direction == Direction::Incoming)
        .map(|m| m.body)
        .collect();
    assert!(!history.is_empty() && history.len() <= 50, "{history:?}");
    assert!(
        expected.ends_with(&history),
        "not the newest, in order: {history:?}"
    );
}
