//! Catching up from the server's archive (XEP-0313 with XEP-0059 paging)
//! against a real Prosody: alice/phone was offline while bob wrote to
//! alice; alice/laptop was online and got those messages live, so the
//! server did not keep them for offline delivery and only the archive can
//! give them to the phone. Messages sent while every device of alice was
//! offline arrive twice (offline storage and archive) and must be stored
//! once.
//!
//! The figure: 2,000 messages that arrived while the phone was
//! offline, caught up exactly once through a fault proxy that resets the
//! link mid-catch-up (the stream resumes), or loses the session (the next
//! fresh session starts after the last page the store recorded).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use jabberkit::{ClientConfig, ConnectionState, DeliveryState, Direction, Event, TlsMode};
use jabberkit_testkit::proxy::{FaultProxy, Mode};
use jabberkit_testkit::server::{ServerOptions, TestServer};

/// Leaves time for a late duplicate to show up.
const SETTLE: Duration = Duration::from_secs(2);

/// What a client announced until its catch-up completed.
#[derive(Debug, Default)]
struct Seen {
    /// Every `CatchUp { fetched, complete }`, in order.
    progress: Vec<(u32, bool)>,
    /// How often each incoming body was announced.
    incoming: HashMap<String, usize>,
    /// How often each outgoing body was announced.
    outgoing: HashMap<String, usize>,
    /// Connection states, in order (the first is the state at subscription).
    states: Vec<ConnectionState>,
    /// For each fresh (not resumed) session: the progress events before it.
    fresh_at: Vec<usize>,
    /// Where the fault hit: the progress events seen before it.
    progress_at_fault: Option<usize>,
    /// Incoming messages announced before the catch-up completed.
    announced: usize,
}

/// A link fault injected once, when `after` incoming messages were
/// announced and at least one page was stored (messages are stored and
/// announced page by page): mid-catch-up.
struct Fault<'a> {
    proxy: &'a FaultProxy,
    after: usize,
    /// Keep reconnects refused this long (past the server's hibernation
    /// time: the session is lost); zero: a plain reset, the stream resumes.
    refuse_for: Duration,
}

/// Collects events until a catch-up completes, injecting `fault` on the way.
async fn catch_up(a: &mut Account, fault: Option<Fault<'_>>, within: Duration) -> Seen {
    let mut seen = Seen::default();
    let deadline = tokio::time::Instant::now() + within;
    let mut reopen_at = None;
    loop {
        let wake = reopen_at.map_or(deadline, |r: tokio::time::Instant| r.min(deadline));
        let ev = match tokio::time::timeout_at(wake, a.events.recv()).await {
            Ok(ev) => ev.expect("events closed"),
            Err(_) if reopen_at.is_some() => {
                if let Some(f) = &fault {
                    f.proxy.set_mode(Mode::Pass);
                }
                reopen_at = None;
                continue;
            }
            Err(_) => panic!(
                "timed out waiting for the catch-up to complete: {} announced, progress {:?}, states {:?}",
                seen.announced, seen.progress, seen.states
            ),
        };
        match ev {
            Event::CatchUp { fetched, complete } => {
                seen.progress.push((fetched, complete));
                if complete {
                    assert!(
                        reopen_at.is_none(),
                        "completed while the link was refused (the fault missed the catch-up): {:?}",
                        seen.progress
                    );
                    return seen;
                }
            }
            Event::Message(m) if m.direction == Direction::Incoming => {
                *seen.incoming.entry(m.body).or_default() += 1;
                seen.announced += 1;
            }
            Event::Message(m) => *seen.outgoing.entry(m.body).or_default() += 1,
            Event::ConnectionState(s) => {
                if matches!(s, ConnectionState::Online { resumed: false }) {
                    seen.fresh_at.push(seen.progress.len());
                }
                seen.states.push(s);
            }
            _ => {}
        }
        match &fault {
            Some(f)
                if seen.progress_at_fault.is_none()
                    && seen.announced >= f.after
                    && !seen.progress.is_empty() =>
            {
                if !f.refuse_for.is_zero() {
                    f.proxy.set_mode(Mode::Refuse);
                    reopen_at = Some(tokio::time::Instant::now() + f.refuse_for);
                }
                f.proxy.reset_all();
                seen.progress_at_fault = Some(seen.progress.len());
            }
            _ => {}
        }
    }
}

/// Collects events until a catch-up completes; returns every `CatchUp`
/// seen and how often each incoming and outgoing body was announced.
async fn until_caught_up(
    a: &mut Account,
) -> (
    Vec<(u32, bool)>,
    HashMap<String, usize>,
    HashMap<String, usize>,
) {
    let seen = catch_up(a, None, WAIT).await;
    (seen.progress, seen.incoming, seen.outgoing)
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
    // One event per page of at most PAGE_SIZE (250). Prosody archives
    // the laptop's receipts too.
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
    // Only what was archived after the first catch-up's last page: at most
    // the phone's own receipts for the 10 offline messages, which store
    // nothing.
    assert!(
        matches!(progress[..], [(n, true)] if n <= 10),
        "{progress:?}"
    );
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

/// The figure: messages that arrive while the phone is offline.
const BACKLOG: usize = 2000;

/// A catch-up of the whole backlog, faults included, takes this at most.
const BACKLOG_WAIT: Duration = Duration::from_secs(90);

/// A server whose archive holds messages from bob to alice that only the
/// archive can give alice/phone: the phone logged in once before (the
/// archive was empty, so its store says "from the start"), then
/// alice/laptop was online and got them live, so the server kept none for
/// offline delivery. alice/reference logged in at the same time as the
/// phone and never meets a fault: its catch-up is the baseline.
struct Backlog {
    /// The phone's way to the server (STARTTLS).
    proxy: FaultProxy,
    bob_jid: String,
    phone: ClientConfig,
    reference: ClientConfig,
    bodies: Vec<String>,
    _dirs: [tempfile::TempDir; 4],
    _server: TestServer,
}

async fn backlog(opts: ServerOptions, n: usize) -> Backlog {
    let server = TestServer::start_with(opts).await;
    let alice_jid = server.register("alice", PASSWORD).await;
    let bob_jid = server.register("bob", PASSWORD).await;
    let proxy = FaultProxy::start(server.starttls_addr()).await;
    let dirs = [(); 4].map(|_| tempfile::tempdir().expect("tmp"));
    let direct = server.starttls_addr();
    let cfg = |resource: &str, via, dir: &tempfile::TempDir| {
        config(
            &server,
            &format!("{alice_jid}/{resource}"),
            via,
            TlsMode::StartTls,
            dir.path(),
        )
    };
    let phone = cfg("phone", proxy.addr(), &dirs[0]);
    let reference = cfg("reference", direct, &dirs[1]);
    for first in [&phone, &reference] {
        let mut a = Account::new(first.clone());
        a.client.connect().expect("connect");
        let (progress, _, _) = until_caught_up(&mut a).await;
        assert_eq!(progress, [(0, true)], "empty archive");
        a.client.disconnect().await;
    }

    let mut laptop = Account::new(cfg("laptop", direct, &dirs[2]));
    let mut bob = Account::new(config(
        &server,
        &bob_jid,
        direct,
        TlsMode::StartTls,
        dirs[3].path(),
    ));
    laptop.client.connect().expect("connect");
    bob.client.connect().expect("connect");
    laptop.wait_online().await;
    bob.wait_online().await;
    // A barrier: the laptop's presence is processed before bob writes.
    laptop.client.send(&bob_jid, "laptop here").expect("send");
    bob.receive_all(&["laptop here".into()], WAIT).await;

    let started = std::time::Instant::now();
    let bodies: Vec<String> = (1..=n).map(|i| format!("backlog {i:04}")).collect();
    let ids: Vec<String> = bodies
        .iter()
        .map(|b| bob.client.send(&alice_jid, b).expect("send"))
        .collect();
    let live = laptop.receive_all(&bodies, BACKLOG_WAIT).await;
    assert!(live.values().all(|&n| n == 1), "laptop duplicates");
    bob.wait_states(&ids, DeliveryState::Acked).await;
    println!(
        "backlog: {n} messages from bob, received live by alice/laptop in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    laptop.client.disconnect().await;
    bob.client.disconnect().await;
    Backlog {
        proxy,
        bob_jid,
        phone,
        reference,
        bodies,
        _dirs: dirs,
        _server: server,
    }
}

/// Connects `cfg`'s client and collects its catch-up (with `fault`), then
/// a little longer for late duplicates; returns it with the seconds from
/// connect to the complete catch-up.
async fn connect_and_catch_up(
    cfg: &ClientConfig,
    fault: Option<Fault<'_>>,
) -> (Account, Seen, f64) {
    let mut a = Account::new(cfg.clone());
    let started = std::time::Instant::now();
    a.client.connect().expect("connect");
    let mut seen = catch_up(&mut a, fault, BACKLOG_WAIT).await;
    let secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    drain_incoming(&mut a, &mut seen.incoming);
    (a, seen, secs)
}

/// Every backlog message announced once and stored once, in send order;
/// returns the duplicates (announced, stored) for the figures.
fn assert_backlog_once(label: &str, a: &Account, b: &Backlog, seen: &Seen) -> (usize, usize) {
    let missing: Vec<_> = b
        .bodies
        .iter()
        .filter(|body| !seen.incoming.contains_key(*body))
        .collect();
    let announced_twice: Vec<_> = seen.incoming.iter().filter(|(_, n)| **n > 1).collect();
    let stored = stored_bodies(&a.client, &b.bob_jid, Direction::Incoming);
    let stored_twice: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).collect();
    let not_stored: Vec<_> = b
        .bodies
        .iter()
        .filter(|body| !stored.contains_key(*body))
        .collect();
    println!(
        "{label}: {} of {} announced, {} stored; announced twice {}, stored twice {}",
        seen.incoming.len(),
        b.bodies.len(),
        stored.len(),
        announced_twice.len(),
        stored_twice.len()
    );
    assert!(
        missing.is_empty() && not_stored.is_empty(),
        "{label}: {} never announced (e.g. {:?}), {} not stored (e.g. {:?}); progress {:?}",
        missing.len(),
        missing.first(),
        not_stored.len(),
        not_stored.first(),
        seen.progress
    );
    assert!(
        announced_twice.is_empty(),
        "{label}: announced twice: {announced_twice:?}"
    );
    assert!(
        stored_twice.is_empty(),
        "{label}: stored twice: {stored_twice:?}"
    );
    assert_eq!(
        seen.incoming.len(),
        b.bodies.len(),
        "{label}: extra incoming"
    );
    assert_eq!(stored.len(), b.bodies.len(), "{label}: extra rows");
    let history: Vec<String> = a
        .client
        .history(&b.bob_jid, None, 100_000)
        .expect("history")
        .into_iter()
        .filter(|m| m.direction == Direction::Incoming)
        .map(|m| m.body)
        .collect();
    assert!(history == b.bodies, "{label}: history out of send order");
    (announced_twice.len(), stored_twice.len())
}

/// Archived stanzas the fault-free reference client fetched: the whole
/// archive since the first logins (Prosody archives the laptop's receipts
/// too, so about twice the messages).
async fn reference_catch_up(b: &Backlog) -> u32 {
    let (reference, seen, secs) = connect_and_catch_up(&b.reference, None).await;
    assert_backlog_once("reference", &reference, b, &seen);
    let (fetched, _) = *seen.progress.last().expect("progress");
    println!(
        "reference (no fault): {} messages in {secs:.1} s, {} pages, {fetched} archived stanzas",
        seen.incoming.len(),
        seen.progress.len()
    );
    reference.client.disconnect().await;
    fetched
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_phone_catches_up_2000_messages_once_across_a_resumed_link_reset() {
    init_logs();
    let opts = ServerOptions {
        archive_in_memory: true,
        ..ServerOptions::default()
    };
    let b = backlog(opts, BACKLOG).await;
    let fault = Fault {
        proxy: &b.proxy,
        after: BACKLOG / 5,
        refuse_for: Duration::ZERO,
    };
    let (phone, seen, secs) = connect_and_catch_up(&b.phone, Some(fault)).await;
    // The reset hit after at least one page, before the end, and the
    // stream resumed: one fresh session, one catch-up.
    let at_fault = seen.progress_at_fault.expect("no reset happened");
    assert!(at_fault >= 1, "reset before the first page ended: {seen:?}");
    assert_eq!(
        seen.fresh_at.len(),
        1,
        "the session was lost: {:?}",
        seen.states
    );
    assert!(
        seen.states
            .iter()
            .any(|s| matches!(s, ConnectionState::Online { resumed: true })),
        "never resumed: {:?}",
        seen.states
    );
    assert!(
        seen.progress.windows(2).all(|w| w[0].0 < w[1].0),
        "{:?}",
        seen.progress
    );
    let (announced_twice, stored_twice) = assert_backlog_once("phone", &phone, &b, &seen);
    let (fetched, _) = *seen.progress.last().expect("progress");
    println!(
        "catch-up across a resumed reset (after {} messages): {} messages in {secs:.1} s from connect to complete, \
         {} pages, {fetched} archived stanzas, {announced_twice} announced twice, {stored_twice} stored twice, \
         {} connections through the proxy",
        BACKLOG / 5,
        seen.incoming.len(),
        seen.progress.len(),
        b.proxy.connections_accepted()
    );
    phone.client.disconnect().await;
    // Each archived stanza was fetched once: the resumed stream neither
    // lost nor repeated a result.
    assert_eq!(fetched, reference_catch_up(&b).await, "{:?}", seen.progress);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_session_restarts_the_catch_up_from_the_last_stored_archive_id() {
    init_logs();
    let opts = ServerOptions {
        archive_in_memory: true,
        hibernation_secs: 1,
        ..ServerOptions::default()
    };
    let b = backlog(opts, BACKLOG).await;
    let fault = Fault {
        proxy: &b.proxy,
        after: BACKLOG / 5,
        refuse_for: Duration::from_secs(4),
    };
    let (phone, seen, secs) = connect_and_catch_up(&b.phone, Some(fault)).await;
    let at_fault = seen.progress_at_fault.expect("no reset happened");
    assert!(at_fault >= 1, "reset before the first page ended: {seen:?}");
    // Two fresh sessions: the first, and the one after the loss.
    let [0, resumed_at] = seen.fresh_at[..] else {
        panic!("expected exactly one lost session: {:?}", seen.states)
    };
    let (before, after) = seen.progress.split_at(resumed_at);
    assert!(before.iter().all(|(_, c)| !c), "{:?}", seen.progress);
    assert_eq!(
        after.iter().filter(|(_, c)| *c).count(),
        1,
        "{:?}",
        seen.progress
    );
    let (announced_twice, stored_twice) = assert_backlog_once("phone", &phone, &b, &seen);
    // The pages answered before the loss were stored with their last id;
    // the second catch-up fetched only what came after.
    let first = before.last().map_or(0, |(f, _)| *f);
    let (second, _) = *after.last().expect("progress");
    println!(
        "catch-up across a lost session (after {} messages): {} messages in {secs:.1} s from connect to complete, \
         pages {} before the loss + {} after, archived stanzas {first} + {second}, {announced_twice} announced twice, \
         {stored_twice} stored twice, {} connections through the proxy",
        BACKLOG / 5,
        seen.incoming.len(),
        before.len(),
        after.len(),
        b.proxy.connections_accepted()
    );
    phone.client.disconnect().await;
    assert!(first > 0, "{:?}", seen.progress);
    assert_eq!(
        first + second,
        reference_catch_up(&b).await,
        "the second catch-up did not start after the last stored page: {:?}",
        seen.progress
    );
}
