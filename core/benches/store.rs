//! The message store at scale (issue 5): one store of many messages across
//! many conversations, and what a user waits for on it.
//!
//! * batched insert: an archive catch-up page of 250 messages in one
//!   transaction ([`Store::insert_incoming_batch`]), next to the same page
//!   inserted one message at a time;
//! * the conversation list ([`Store::conversations`]), target ≤ 5 ms;
//! * a page of 50 older messages ([`Store::history`] with a `before`
//!   cursor), target ≤ 2 ms;
//! * full-text search ([`Store::search`]), target ≤ 20 ms;
//! * opening the store ([`Store::open`]: the migration check).
//!
//! The store holds `JABBERKIT_BENCH_MESSAGES` messages (default 1,000,000
//! under `cargo bench`; 5,000 under `cargo test`, where criterion runs each
//! benchmark once as a smoke test) in one conversation per 1,000 of them.
//! Bodies are chat-like English with a Zipf word distribution, both
//! directions, spread over three years in bursts. The store is built once
//! into `<target>/bench-data/` and reused until the generator or the schema
//! changes. After criterion's figures, one summary line per target; the
//! targets are printed, never enforced.
//!
//! ```sh
//! cargo bench -p jabberkit --features store-api --bench store          # 1,000,000 messages
//! cargo test -p jabberkit --features store-api --bench store --locked  # smoke: 5,000, each once
//! JABBERKIT_BENCH_MESSAGES=100000 cargo bench -p jabberkit --features store-api --bench store
//! ```

use std::cell::RefCell;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput};
use jabberkit::store::{NewIncoming, NewOutgoingCopy, Store};

/// Bump when the generated data changes: cached stores are rebuilt.
const GENERATOR_VERSION: u32 = 1;
const MESSAGES_VAR: &str = "JABBERKIT_BENCH_MESSAGES";
const FULL_SCALE: u64 = 1_000_000;
const SMOKE_SCALE: u64 = 5_000;
const MESSAGES_PER_CONVERSATION: u64 = 1_000;
/// An archive catch-up page (XEP-0313 with RSM): one transaction each.
const PAGE: usize = 250;
const HISTORY_PAGE: u32 = 50;
const SEARCH_LIMIT: u32 = 50;
const OWN_JID: &str = "me@example.org";
const INSERT_SAMPLES: usize = 20;
/// Criterion's default.
const READ_SAMPLES: usize = 100;

fn main() {
    let bench_mode = is_bench_mode();
    let messages = scale(bench_mode);
    let conversations = (messages / MESSAGES_PER_CONVERSATION).max(1) as u32;
    let corpus = Corpus::new();
    let data = BenchData::prepare(messages, conversations, &corpus);

    let mut c = Criterion::default().without_plots().configure_from_args();
    let mut summary = Vec::new();
    bench_insert(&mut c, &data, &corpus, &mut summary);
    bench_reads(&mut c, &data, &mut summary);
    c.final_summary();

    println!();
    println!(
        "store of {} messages in {} conversations, {} ({})",
        thousands(messages),
        thousands(u64::from(conversations)),
        megabytes(data.size),
        data.origin
    );
    if !bench_mode {
        println!("test mode: each benchmark ran once; figures are single runs, debug build");
    }
    for line in &summary {
        println!("{line}");
    }
}

/// Criterion's own rule: `cargo bench` passes `--bench`; `cargo test`
/// does not, and then each benchmark runs once.
fn is_bench_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test")
}

fn scale(bench_mode: bool) -> u64 {
    match std::env::var(MESSAGES_VAR) {
        Ok(value) => value
            .replace(['_', ','], "")
            .parse()
            .ok()
            .filter(|&n: &u64| n > 0)
            .unwrap_or_else(|| panic!("{MESSAGES_VAR}={value:?} is not a positive number")),
        Err(_) if bench_mode => FULL_SCALE,
        Err(_) => SMOKE_SCALE,
    }
}

// ---------------------------------------------------------------------------
// Benchmarks

fn bench_insert(c: &mut Criterion, data: &BenchData, corpus: &Corpus, summary: &mut Vec<String>) {
    // Writes go to a copy: the cached store stays as built.
    let path = data.path.with_extension("insert.sqlite3");
    remove_store_files(&path);
    std::fs::copy(&data.path, &path).expect("copy the bench store");
    let store = Store::open(&path).expect("open the copy of the bench store");
    // New messages continue the timeline after the stored ones.
    let mut generator = Generator::new(corpus, data.conversations, 2);
    let mut clock = END_MS + 86_400_000;
    let mut next_page = || {
        (0..PAGE)
            .map(|_| {
                clock += 30_000;
                generator.incoming(clock)
            })
            .collect::<Vec<_>>()
    };

    let mut group = c.benchmark_group("insert");
    group
        .throughput(Throughput::Elements(PAGE as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(INSERT_SAMPLES)
        .measurement_time(Duration::from_secs(10));
    let batched = measure(
        &mut group,
        "page_of_250_in_one_transaction",
        INSERT_SAMPLES,
        |iters| {
            let pages: Vec<_> = (0..iters).map(|_| next_page()).collect();
            let start = Instant::now();
            for page in &pages {
                let batch: Vec<_> = page.iter().map(Owned::as_incoming).collect();
                let stored = store.insert_incoming_batch(&batch).expect("batch insert");
                black_box(stored);
            }
            start.elapsed()
        },
    );
    let singly = measure(
        &mut group,
        "page_of_250_one_by_one",
        INSERT_SAMPLES,
        |iters| {
            let pages: Vec<_> = (0..iters).map(|_| next_page()).collect();
            let start = Instant::now();
            for page in &pages {
                for m in page {
                    black_box(store.insert_incoming(m.as_incoming()).expect("insert"));
                }
            }
            start.elapsed()
        },
    );
    group.finish();
    drop(store);
    remove_store_files(&path);

    let rate = |figure: &Figure| PAGE as f64 / figure.median.as_secs_f64();
    if let (Some(batched), Some(singly)) = (batched, singly) {
        summary.push(format!(
            "batched insert: {} messages/s in transactions of {PAGE}, {} messages/s one by one{}",
            thousands(rate(&batched) as u64),
            thousands(rate(&singly) as u64),
            batched.note()
        ));
    }
    if let Some(build) = data.build {
        summary.push(format!(
            "building the store: {} messages/s ({} in {:.1} s, pages of {PAGE})",
            thousands((data.messages as f64 / build.as_secs_f64()) as u64),
            thousands(data.messages),
            build.as_secs_f64()
        ));
    }
}

fn bench_reads(c: &mut Criterion, data: &BenchData, summary: &mut Vec<String>) {
    let store = Store::open(&data.path).expect("open the bench store");
    let target = |name: &str, figure: Option<Figure>, target_ms: f64| {
        figure.map(|f| {
            let ms = f.median.as_secs_f64() * 1e3;
            let verdict = if ms <= target_ms { "" } else { "  MISSED" };
            format!(
                "{name}: {} (target ≤ {target_ms} ms){verdict}{}",
                millis(f.median),
                f.note()
            )
        })
    };

    let mut group = c.benchmark_group("read");
    group.sample_size(READ_SAMPLES);
    let figure = measure(&mut group, "conversation_list", READ_SAMPLES, |iters| {
        timed(iters, || {
            black_box(store.conversations().expect("conversations"));
        })
    });
    summary.extend(target(
        &format!("conversation list ({})", data.conversations),
        figure,
        5.0,
    ));

    for (label, conversation) in [("largest", 0), ("typical", data.conversations / 2)] {
        let peer = peer_jid(conversation);
        let (before, total) = middle_message(&data.path, &peer);
        let page = store
            .history(&peer, Some(&before), HISTORY_PAGE)
            .expect("history");
        assert!(!page.is_empty(), "no history before the middle of {peer}");
        let figure = measure(
            &mut group,
            &format!("history_older_page/{label}"),
            READ_SAMPLES,
            |iters| {
                timed(iters, || {
                    black_box(
                        store
                            .history(&peer, Some(&before), HISTORY_PAGE)
                            .expect("history"),
                    );
                })
            },
        );
        summary.extend(target(
            &format!(
                "history, {} older messages in the {label} conversation ({} messages)",
                page.len(),
                thousands(total)
            ),
            figure,
            2.0,
        ));
    }

    for (label, query) in [
        ("common word", "tomorrow"),
        ("rare word", "quokka"),
        ("prefix", "din"),
        ("two words", "dinner tomorrow"),
    ] {
        let hits = store.search(query, SEARCH_LIMIT).expect("search").len();
        let matching = matching_messages(&data.path, query);
        let id = format!("search/{}", label.replace(' ', "_"));
        let figure = measure(&mut group, &id, READ_SAMPLES, |iters| {
            timed(iters, || {
                black_box(store.search(query, SEARCH_LIMIT).expect("search"));
            })
        });
        summary.extend(target(
            &format!(
                "search, {label} {query:?} ({hits} hits of {} matching)",
                thousands(matching)
            ),
            figure,
            20.0,
        ));
    }
    drop(store);

    let figure = measure(&mut group, "open", READ_SAMPLES, |iters| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let start = Instant::now();
            let store = Store::open(&data.path).expect("open");
            total += start.elapsed();
            // Closing (a WAL checkpoint) is not part of opening.
            drop(black_box(store));
        }
        total
    });
    group.finish();
    if let Some(f) = figure {
        summary.push(format!(
            "open (migration check included): {}{}",
            millis(f.median),
            f.note()
        ));
    }
}

/// What one benchmark measured: the median time per iteration over
/// criterion's measurement samples (the last `sample_size` calls, after
/// its warm-up ones; a single call in test mode).
struct Figure {
    median: Duration,
    samples: usize,
}

impl Figure {
    fn note(&self) -> String {
        if self.samples == 1 {
            " [one run]".to_owned()
        } else {
            String::new()
        }
    }
}

/// Runs one benchmark whose routine times `iters` iterations itself, and
/// keeps the samples for the summary. `sample_size` must be the group's.
/// `None` when a filter skipped it.
fn measure(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    sample_size: usize,
    mut routine: impl FnMut(u64) -> Duration,
) -> Option<Figure> {
    let calls = RefCell::new(Vec::new());
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let elapsed = routine(iters);
            calls
                .borrow_mut()
                .push(elapsed.as_secs_f64() / iters as f64);
            elapsed
        })
    });
    let calls = calls.into_inner();
    let samples = calls.len().min(sample_size);
    let mut per_iteration = calls[calls.len() - samples..].to_vec();
    if per_iteration.is_empty() {
        return None;
    }
    per_iteration.sort_by(f64::total_cmp);
    let median = per_iteration[per_iteration.len() / 2];
    Some(Figure {
        median: Duration::from_secs_f64(median),
        samples,
    })
}

fn timed(iters: u64, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

// ---------------------------------------------------------------------------
// The store on disk

/// The generated store: where it is and how it came to be.
struct BenchData {
    path: PathBuf,
    messages: u64,
    conversations: u32,
    size: u64,
    /// How long building took, if this run built it.
    build: Option<Duration>,
    origin: String,
}

impl BenchData {
    fn prepare(messages: u64, conversations: u32, corpus: &Corpus) -> BenchData {
        let dir = target_dir().join("bench-data");
        std::fs::create_dir_all(&dir).expect("create the bench data directory");
        let path = dir.join(format!("store-v{GENERATOR_VERSION}-{messages}.sqlite3"));
        let current = current_schema_version(&dir);
        let cached = schema_version(&path);
        let (build, origin) = if cached == Some(current) {
            (None, format!("reused {}", path.display()))
        } else {
            let why = match cached {
                None => "missing".to_owned(),
                Some(v) => format!("schema {v}, now {current}"),
            };
            eprintln!(
                "building {} ({why}): {} messages, {conversations} conversations",
                path.display(),
                thousands(messages)
            );
            let took = build_store(&path, messages, conversations, corpus);
            eprintln!("built in {:.1} s", took.as_secs_f64());
            (
                Some(took),
                format!("built in {:.1} s: {}", took.as_secs_f64(), path.display()),
            )
        };
        let size = std::fs::metadata(&path).expect("bench store").len();
        BenchData {
            path,
            messages,
            conversations,
            size,
            build,
            origin,
        }
    }
}

/// `$CARGO_TARGET_DIR`, or the target directory this binary was built in
/// (`<target>/<profile>/deps/store-…`).
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("path of the bench binary");
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// The schema version this build of the store writes.
fn current_schema_version(dir: &Path) -> i64 {
    let path = dir.join("schema-probe.sqlite3");
    remove_store_files(&path);
    drop(Store::open(&path).expect("open an empty store"));
    let version = schema_version(&path).expect("version of an empty store");
    remove_store_files(&path);
    version
}

/// The `user_version` of the store at `path`, read without changing it.
fn schema_version(path: &Path) -> Option<i64> {
    if !path.exists() {
        return None;
    }
    let conn = read_only(path);
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .ok()
}

fn read_only(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open the bench store read-only")
}

/// A message from the middle of the conversation with `peer`, as the
/// `before` cursor of a user who scrolled back half way; and how many
/// messages the conversation has.
fn middle_message(path: &Path, peer: &str) -> (String, u64) {
    let conn = read_only(path);
    let total: u64 = conn
        .query_row(
            "SELECT count(*) FROM messages WHERE conversation = ?1",
            [peer],
            |row| row.get(0),
        )
        .expect("count the conversation");
    let id = conn
        .query_row(
            "SELECT id FROM messages WHERE conversation = ?1 \
             ORDER BY timestamp, seq LIMIT 1 OFFSET ?2",
            rusqlite::params![peer, total / 2],
            |row| row.get(0),
        )
        .expect("a message in the middle of the conversation");
    (id, total)
}

/// How many messages the search expression for `query` matches in all
/// (the search returns at most [`SEARCH_LIMIT`] of them).
fn matching_messages(path: &Path, query: &str) -> u64 {
    // The same expression Store::search builds: quoted words, the last a prefix.
    let words: Vec<String> = query
        .split_whitespace()
        .map(|w| format!("\"{w}\""))
        .collect();
    let expression = format!("{}*", words.join(" "));
    read_only(path)
        .query_row(
            "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?1",
            [expression],
            |row| row.get(0),
        )
        .expect("count the matches")
}

/// Builds the store at `path` (atomically: a half-built file is never
/// taken for a built one) and returns how long it took.
fn build_store(path: &Path, messages: u64, conversations: u32, corpus: &Corpus) -> Duration {
    let partial = path.with_extension("partial");
    remove_store_files(&partial);
    remove_store_files(path);
    let start = Instant::now();
    let store = Store::open(&partial).expect("create the bench store");
    let mut generator = Generator::new(corpus, conversations, 1);
    let timeline = generator.timeline(messages);
    let progress_every = (timeline.len() / 10).max(1);
    for (n, chunk) in timeline.chunks(PAGE).enumerate() {
        let page: Vec<Owned> = chunk.iter().map(|slot| generator.message(slot)).collect();
        // An archive page holds both directions: ours go in as copies of
        // what another device sent, the rest as incoming.
        let incoming: Vec<_> = page
            .iter()
            .filter(|m| !m.outgoing)
            .map(Owned::as_incoming)
            .collect();
        let outgoing: Vec<_> = page
            .iter()
            .filter(|m| m.outgoing)
            .map(Owned::as_outgoing_copy)
            .collect();
        let stored_in = store.insert_incoming_batch(&incoming).expect("insert");
        let stored_out = store.insert_outgoing_copy_batch(&outgoing).expect("insert");
        assert!(
            stored_in.iter().chain(&stored_out).all(Option::is_some),
            "generated ids must be unique"
        );
        let done = (n + 1) * PAGE;
        if done % progress_every < PAGE {
            eprintln!(
                "  {} messages, {:.1} s",
                thousands(done.min(timeline.len()) as u64),
                start.elapsed().as_secs_f64()
            );
        }
    }
    // Users read most of their conversations: one in ten keeps its unread.
    for conversation in 0..conversations {
        if conversation % 10 != 0 {
            store.mark_read(&peer_jid(conversation)).expect("mark read");
        }
    }
    assert_eq!(store.count_messages().expect("count"), messages);
    let listed = store.conversations().expect("conversations").len();
    drop(store);
    let took = start.elapsed();
    // Every conversation got messages (the smallest weight still gets ~300
    // of 1,000 per conversation).
    assert_eq!(
        listed, conversations as usize,
        "a conversation got no message"
    );
    // Closing the last connection checkpointed and removed the WAL: the
    // file alone is the store.
    assert!(
        !wal_of(&partial).exists(),
        "the WAL outlived the last connection"
    );
    std::fs::rename(&partial, path).expect("move the built store into place");
    took
}

fn wal_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

fn remove_store_files(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::remove_file(PathBuf::from(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("remove {}{suffix}: {e}", path.display()),
        }
    }
}

// ---------------------------------------------------------------------------
// The data

/// The last stored message is shortly before this; the first about three
/// years earlier.
const END_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const SPAN_MS: i64 = 3 * 365 * 86_400_000;

/// Chat English, most frequent first (sampled with Zipf's law, so the
/// first words are in most messages and the last in few).
const WORDS: &str = "
i you the to a it and is that for ok of in me my we be so have are on just
this what no yes do at but not can was will get it's with i'm know about
how your all like one go see good think well time now there up if then
out its here they he she want too lol thanks today tomorrow back going
when did got need call later would come love really why sure make right
day home work some night could still yeah let don't send them only great
let's after morning more take something much week thank tonight where any
who again also been can't look way nice new before maybe hey had from
doing dinner people were by thing sorry say them very happy free wait soon
weekend over hope their next try us lunch said first little tell place
car meet meeting friday saturday sunday monday coffee better hour minutes
bad hi well text phone already ready sounds miss long fine talk leave which
our last down school should off done start give though find house guys
pick feel keep old has because thought yet office bring cool even those
mom dad movie food game late early birthday party tickets train bus ride
problem guess left tired sleep work's money pay buy shop store check
picture photo video email message number address street city trip flight
hotel booked plans plan weather rain cold hot sunny beach park walk run
gym class exam study project deadline boss client report team doctor
appointment dentist kids baby dog cat beer wine pizza burger salad soup
breakfast cake chocolate café restaurant kitchen cook cooking recipe
shopping grocery milk bread eggs cheese fruit apple banana coffee tea
music song concert band guitar piano show series episode book read
reading news funny crazy awesome amazing wow cute beautiful perfect
welcome congrats congratulations sick hospital medicine worried careful
safe drive driving parking traffic station airport arrive arrived leaving
left wedding holiday vacation summer winter spring autumn christmas year
month hours minute second seconds afternoon evening midnight noon
tuesday wednesday thursday january february march april june july august
september october november december dining dinosaur dingy dinghy ding
garden flowers tree neighbours neighbour window door keys lost found
laptop computer charger battery internet wifi password account app update
bug fix release server database backup upload download file files folder
naïve résumé jalapeño déjà fiancé piñata crème brûlée
";

/// Each about once in 20,000 messages: what a rare-word search finds.
const RARE_WORDS: &[&str] = &[
    "quokka",
    "xylophone",
    "zeppelin",
    "kumquat",
    "marzipan",
    "reykjavik",
];
const RARE_EVERY: u64 = 20_000;

const NAMES: &[&str] = &[
    "anna", "ben", "chloe", "david", "emma", "felix", "grace", "hugo", "iris", "jonas", "kate",
    "leo", "mia", "noah", "olivia", "paul", "quinn", "rosa", "sam", "tara",
];
const DOMAINS: &[&str] = &[
    "example.org",
    "jabber.example.com",
    "chat.example.net",
    "xmpp.example.de",
];

/// The conversation partner number `n`.
fn peer_jid(n: u32) -> String {
    let name = NAMES[n as usize % NAMES.len()];
    let domain = DOMAINS[(n as usize / NAMES.len()) % DOMAINS.len()];
    format!("{name}.{n}@{domain}")
}

/// The vocabulary and its cumulative Zipf weights.
struct Corpus {
    words: Vec<&'static str>,
    cumulative: Vec<f64>,
}

impl Corpus {
    fn new() -> Corpus {
        let words: Vec<&str> = WORDS.split_whitespace().collect();
        Corpus {
            cumulative: cumulative((1..=words.len()).map(|rank| 1.0 / rank as f64)),
            words,
        }
    }

    fn word(&self, rng: &mut fastrand::Rng) -> &'static str {
        self.words[pick(&self.cumulative, rng)]
    }
}

fn cumulative(weights: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut sum = 0.0;
    weights
        .map(|w| {
            sum += w;
            sum
        })
        .collect()
}

/// An index drawn with the weights behind `cumulative`.
fn pick(cumulative: &[f64], rng: &mut fastrand::Rng) -> usize {
    let total = cumulative.last().copied().unwrap_or(0.0);
    let x = rng.f64() * total;
    cumulative
        .partition_point(|&c| c <= x)
        .min(cumulative.len() - 1)
}

/// Who wrote a message, to whom and when: the timeline before the bodies.
#[derive(Clone, Copy)]
struct Slot {
    conversation: u32,
    outgoing: bool,
    timestamp_ms: i64,
}

/// A generated message, owning what the store's `New…` types borrow.
struct Owned {
    peer: String,
    outgoing: bool,
    body: String,
    timestamp: DateTime<Utc>,
    origin_id: Option<String>,
    stanza_id: Option<String>,
    remote_id: Option<String>,
}

impl Owned {
    fn as_incoming(&self) -> NewIncoming<'_> {
        NewIncoming {
            file_url: None,
            from: &self.peer,
            remote_id: self.remote_id.as_deref(),
            origin_id: self.origin_id.as_deref(),
            stanza_id: self.stanza_id.as_deref(),
            body: &self.body,
            timestamp: self.timestamp,
            markable: true,
        }
    }

    fn as_outgoing_copy(&self) -> NewOutgoingCopy<'_> {
        NewOutgoingCopy {
            file_url: None,
            own_jid: OWN_JID,
            to: &self.peer,
            origin_id: self.origin_id.as_deref(),
            remote_id: self.remote_id.as_deref(),
            body: &self.body,
            timestamp: self.timestamp,
        }
    }
}

/// Deterministic messages: the same seed gives the same store.
struct Generator<'a> {
    corpus: &'a Corpus,
    rng: fastrand::Rng,
    /// A few conversations get most messages (weight 1 / (rank + 1)^0.7).
    conversations: Vec<f64>,
}

impl<'a> Generator<'a> {
    fn new(corpus: &'a Corpus, conversations: u32, seed: u64) -> Generator<'a> {
        Generator {
            corpus,
            rng: fastrand::Rng::with_seed(seed),
            conversations: cumulative(
                (0..conversations).map(|rank| 1.0 / f64::from(rank + 1).powf(0.7)),
            ),
        }
    }

    /// `n` slots, oldest first, over [`SPAN_MS`] up to [`END_MS`]: exchanges
    /// of messages seconds to minutes apart, hours between exchanges.
    /// Every conversation gets its first message in the first pass, so
    /// none is empty.
    fn timeline(&mut self, n: u64) -> Vec<Slot> {
        let count = self.conversations.len() as u32;
        let mut slots = Vec::with_capacity(n as usize);
        let mut gaps = Vec::with_capacity(n as usize);
        let mut conversation = 0;
        let mut outgoing = false;
        for i in 0..n {
            let gap = if i < u64::from(count) {
                conversation = i as u32;
                outgoing = self.rng.bool();
                self.rng.f64() * 7_200.0
            } else if self.rng.f64() < 0.8 {
                // The exchange goes on; now and then the same side again.
                if self.rng.f64() < 0.6 {
                    outgoing = !outgoing;
                }
                5.0 + self.rng.f64() * 300.0
            } else {
                conversation = pick(&self.conversations, &mut self.rng) as u32;
                outgoing = self.rng.bool();
                600.0 + self.rng.f64() * 14_400.0
            };
            gaps.push(gap);
            slots.push(Slot {
                conversation,
                outgoing,
                timestamp_ms: 0,
            });
        }
        let total: f64 = gaps.iter().sum();
        let start = END_MS - SPAN_MS;
        let mut at = 0.0;
        for (slot, gap) in slots.iter_mut().zip(gaps) {
            at += gap;
            slot.timestamp_ms = start + (at / total * SPAN_MS as f64) as i64;
        }
        slots
    }

    fn message(&mut self, slot: &Slot) -> Owned {
        let body = self.body();
        let uuid = |rng: &mut fastrand::Rng| {
            uuid::Builder::from_random_bytes(rng.u128(..).to_le_bytes())
                .into_uuid()
                .to_string()
        };
        let (origin_id, stanza_id, remote_id) = if slot.outgoing {
            // Our clients use the origin-id as the stanza @id.
            let id = uuid(&mut self.rng);
            (Some(id.clone()), None, Some(id))
        } else {
            // Most clients send an origin-id; the server adds its stanza-id.
            let origin = (self.rng.f64() < 0.9).then(|| uuid(&mut self.rng));
            let remote = format!("{:012x}", self.rng.u64(..) >> 16);
            (origin, Some(uuid(&mut self.rng)), Some(remote))
        };
        Owned {
            peer: peer_jid(slot.conversation),
            outgoing: slot.outgoing,
            body,
            timestamp: Utc
                .timestamp_millis_opt(slot.timestamp_ms)
                .single()
                .expect("timestamp in range"),
            origin_id,
            stanza_id,
            remote_id,
        }
    }

    /// An incoming message at `timestamp_ms`, in a conversation drawn by weight.
    fn incoming(&mut self, timestamp_ms: i64) -> Owned {
        let conversation = pick(&self.conversations, &mut self.rng) as u32;
        self.message(&Slot {
            conversation,
            outgoing: false,
            timestamp_ms,
        })
    }

    /// Mostly short, sometimes long: 1–3 words (30 %), 4–12 (45 %),
    /// 13–35 (20 %), 36–120 (5 %).
    fn body(&mut self) -> String {
        let rng = &mut self.rng;
        let x = rng.f64();
        let words = if x < 0.30 {
            rng.usize(1..=3)
        } else if x < 0.75 {
            rng.usize(4..=12)
        } else if x < 0.95 {
            rng.usize(13..=35)
        } else {
            rng.usize(36..=120)
        };
        let rare = rng.u64(..RARE_EVERY) == 0;
        let rare_at = rng.usize(0..words);
        let mut body = String::new();
        for i in 0..words {
            let word = if rare && i == rare_at {
                RARE_WORDS[rng.usize(..RARE_WORDS.len())]
            } else {
                self.corpus.word(rng)
            };
            if i > 0 {
                if rng.u8(..12) == 0 {
                    body.push(',');
                }
                body.push(' ');
            }
            if i == 0 {
                let mut chars = word.chars();
                if let Some(first) = chars.next() {
                    body.extend(first.to_uppercase());
                    body.push_str(chars.as_str());
                }
            } else {
                body.push_str(word);
            }
        }
        body.push_str(["", "", ".", "!", "?", " :)", "…"][rng.usize(..7)]);
        body
    }
}

// ---------------------------------------------------------------------------
// Printing

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(d);
    }
    out
}

fn millis(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 1.0 {
        format!("{ms:.3} ms")
    } else if ms < 100.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.0} MB", bytes as f64 / 1e6)
}
