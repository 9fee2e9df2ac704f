//! UI reads while the session writes (issue 12): how long the conversation
//! list plus a page of 50 messages takes while, on another thread, the
//! session stores a 2,000-message catch-up page in one transaction, or
//! replaces a 5,000-contact roster. Reads go through the store's reader
//! connection and should not wait behind either write.
//!
//! Figures only, never a verdict (the store's unit tests prove that a read
//! does not wait behind an open write; timings on a shared CI machine are
//! no proof of anything):
//!
//! ```sh
//! cargo bench -p jabberkit --features store-api --bench ui_reads     # release
//! cargo test -p jabberkit --features store-api --bench ui_reads      # smoke, debug
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use jabberkit::store::{NewIncoming, Store};
use jabberkit::{Contact, Subscription};

const PEERS: usize = 20;
const MESSAGES_PER_PEER: usize = 200;
const PAGE: usize = 2_000;
const CONTACTS: usize = 5_000;
/// Writes per scenario; reads run back to back for as long as they last.
const ROUNDS: usize = 5;

fn main() {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(&dir.path().join("ui.sqlite3")).expect("open");
    let peers: Vec<String> = (0..PEERS).map(|i| format!("peer{i}@example.org")).collect();
    let mut seq = 0u64;
    for peer in &peers {
        let ids: Vec<String> = (0..MESSAGES_PER_PEER)
            .map(|_| {
                seq += 1;
                format!("seed-{seq}")
            })
            .collect();
        store
            .insert_incoming_batch(&page(peer, &ids, seq as i64))
            .expect("seed");
    }

    println!(
        "ui reads (conversation list + 50 messages) on the reader connection, while the session writes ({} build):",
        if bench_mode { "release" } else { "debug, smoke" }
    );
    let mut round = 0u64;
    let page_write = || {
        round += 1;
        let ids: Vec<String> = (0..PAGE).map(|i| format!("page-{round}-{i}")).collect();
        let started = Instant::now();
        store
            .insert_incoming_batch(&page(
                "catchup@example.org",
                &ids,
                1_000_000 + round as i64 * 10_000,
            ))
            .expect("page");
        started.elapsed()
    };
    report(
        "a 2,000-message catch-up page",
        &store,
        &peers[0],
        page_write,
    );
    let mut version = 0u32;
    let roster_write = || {
        version += 1;
        let contacts: Vec<Contact> = (0..CONTACTS)
            .map(|i| Contact {
                jid: format!("contact{i}@example.org"),
                name: Some(format!("Contact {i} v{version}")),
                groups: vec!["Friends".into()],
                subscription: Subscription::Both,
                ask: false,
                pending_in: false,
            })
            .collect();
        let started = Instant::now();
        store
            .replace_roster(Some(&format!("v{version}")), &contacts)
            .expect("roster");
        started.elapsed()
    };
    report(
        "a 5,000-contact roster replacement",
        &store,
        &peers[0],
        roster_write,
    );
}

/// Reads back to back on this thread while `write` runs `ROUNDS` times on
/// another; prints the write's time and the reads' percentiles.
fn report(what: &str, store: &Store, peer: &str, mut write: impl FnMut() -> Duration + Send) {
    let done = AtomicBool::new(false);
    let mut reads = Vec::new();
    let writes = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let writes: Vec<Duration> = (0..ROUNDS).map(|_| write()).collect();
            done.store(true, Ordering::Release);
            writes
        });
        while !done.load(Ordering::Acquire) {
            let started = Instant::now();
            std::hint::black_box(store.conversations().expect("conversations"));
            std::hint::black_box(store.history(peer, None, 50).expect("history"));
            reads.push(started.elapsed());
        }
        writer.join().expect("writer")
    });
    reads.sort();
    let pct = |p: f64| reads[((reads.len() - 1) as f64 * p) as usize];
    let write_ms: Vec<String> = writes.iter().map(|w| format!("{:.0}", ms(*w))).collect();
    println!(
        "  during {what} ({} writes of {} ms): {} reads, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        writes.len(),
        write_ms.join("/"),
        reads.len(),
        ms(pct(0.5)),
        ms(pct(0.99)),
        ms(*reads.last().expect("at least one read")),
    );
}

fn page<'a>(from: &'a str, ids: &'a [String], base: i64) -> Vec<NewIncoming<'a>> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| NewIncoming {
            file_url: None,
            from,
            remote_id: Some(id),
            origin_id: None,
            stanza_id: None,
            body: "a message of ordinary length, about as long as most chat lines are",
            timestamp: Utc
                .timestamp_opt(1_700_000_000 + base + i as i64, 0)
                .single()
                .expect("time"),
            markable: false,
        })
        .collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
