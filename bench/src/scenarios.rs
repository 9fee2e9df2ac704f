//! The benchmark scenarios (issue 5, the network half) but the first
//! (`login.rs`). Each one runs whole client processes against the same
//! throwaway Prosody and returns its figures; it fails only when the job
//! itself fails (a lost or duplicated message, a client that never comes
//! online), never on a time.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use jabberkit::store::{NewIncoming, Store};
use jabberkit::STORE_FILE;
use jabberkit_testkit::proxy::FaultProxy;
use jabberkit_testkit::server::TestServer;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::agent::{proc_stats, Agent, Failure, Kind, Programs, Spec, Tls};
use crate::report::{Row, Samples, Theirs, Unit};

/// Every account's password.
const PASSWORD: &str = "bench password";
/// Logging in, through a 100 ms RTT included.
pub const ONLINE: Duration = Duration::from_secs(30);
/// Upper bound for the long jobs (10,000 messages); never hit when it works.
const LONG: Duration = Duration::from_secs(900);

/// How big and how often.
#[derive(Debug, Clone)]
pub struct Settings {
    pub smoke: bool,
    /// Runs of the quick figures.
    pub runs: usize,
    /// Runs of the slow ones (catch-up, throughput, memory, idle).
    pub slow_runs: usize,
    pub catch_up_messages: usize,
    pub throughput_messages: usize,
    pub store_messages: usize,
    /// How long an idle client is watched.
    pub idle_window: Duration,
    /// How long a client idles before its memory is read.
    pub memory_idle: Duration,
}

impl Settings {
    pub fn full() -> Self {
        Settings {
            smoke: false,
            runs: 5,
            slow_runs: 3,
            catch_up_messages: 10_000,
            throughput_messages: 10_000,
            store_messages: 100_000,
            idle_window: Duration::from_secs(180),
            memory_idle: Duration::from_secs(5),
        }
    }

    pub fn smoke() -> Self {
        Settings {
            smoke: true,
            runs: 1,
            slow_runs: 1,
            catch_up_messages: 20,
            throughput_messages: 20,
            store_messages: 500,
            idle_window: Duration::from_secs(3),
            memory_idle: Duration::from_secs(1),
        }
    }
}

/// What every scenario shares: the server, the programs, scratch space.
pub struct Bench {
    pub server: TestServer,
    pub programs: Programs,
    pub settings: Settings,
    pub clock_ticks: f64,
    scratch: tempfile::TempDir,
    accounts: u32,
}

impl Bench {
    pub fn new(
        server: TestServer,
        programs: Programs,
        settings: Settings,
        clock_ticks: f64,
    ) -> Result<Bench, Failure> {
        let scratch = tempfile::Builder::new()
            .prefix("jabberkit-bench-")
            .tempdir()
            .map_err(|e| format!("cannot create a scratch directory: {e}"))?;
        Ok(Bench {
            server,
            programs,
            settings,
            clock_ticks,
            scratch,
            accounts: 0,
        })
    }

    /// The clients to compare: ours, and the peer when it is installed.
    pub fn kinds(&self) -> Vec<Kind> {
        if self.programs.peer.is_some() {
            vec![Kind::Ours, Kind::Peer]
        } else {
            vec![Kind::Ours]
        }
    }

    pub fn theirs(&self, samples: Samples) -> Theirs {
        if self.programs.peer.is_some() {
            Theirs::Measured(samples)
        } else {
            Theirs::Skipped
        }
    }

    /// A new account; its store directory is named after it.
    pub async fn account(&mut self, what: &str) -> String {
        self.accounts += 1;
        let user = format!("{what}{}", self.accounts);
        self.server.register(&user, PASSWORD).await
    }

    fn store_of(&self, jid: &str) -> PathBuf {
        self.scratch.path().join(jid)
    }

    pub fn spec(&self, kind: Kind, jid: &str, server: SocketAddr, tls: Tls) -> Spec {
        Spec {
            kind,
            jid: jid.to_owned(),
            password: PASSWORD.to_owned(),
            store: self.store_of(jid),
            server,
            tls,
            ca: self.server.ca_pem_path().to_path_buf(),
            keepalive_secs: None,
        }
    }

    pub fn addr(&self, tls: Tls) -> SocketAddr {
        match tls {
            Tls::StartTls => self.server.starttls_addr(),
            Tls::Direct => self.server.direct_tls_addr(),
        }
    }

    fn stats(&self, agent: &Agent) -> Result<crate::agent::ProcStats, Failure> {
        let pid = agent.pid().ok_or_else(|| agent.failure("has no pid"))?;
        proc_stats(pid, self.clock_ticks)
    }

    fn server_cpu(&self) -> Result<f64, Failure> {
        let pid = self.server.pid().ok_or("the server is not running")?;
        Ok(proc_stats(pid, self.clock_ticks)?.cpu)
    }
}

/// Samples per client kind.
#[derive(Default)]
pub struct PerKind {
    pub ours: Samples,
    pub theirs: Samples,
}

impl PerKind {
    pub fn push(&mut self, kind: Kind, v: f64) {
        match kind {
            Kind::Ours => self.ours.push(v),
            Kind::Peer => self.theirs.push(v),
        }
    }
}

// ------------------------------------------------------------ scenario 2

/// Writes `count` send commands to `to` (bodies `tag` + index), and waits
/// until every one is acked by the server (or delivered).
fn send_lines(to: &str, tag: &str, count: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    for i in 0..count {
        let line = json!({"cmd": "send", "to": to, "body": format!("{tag} {i}")});
        buf.extend_from_slice(line.to_string().as_bytes());
        buf.push(b'\n');
    }
    buf
}

/// Feeds sends to `agent` while collecting its acks; returns when all
/// `count` are acked (`acked` or `delivered`), with the instant of the last.
async fn send_and_wait_acked(
    agent: &mut Agent,
    commands: Vec<u8>,
    count: usize,
) -> Result<Instant, Failure> {
    let mut stdin = agent.take_stdin().ok_or("stdin already closed")?;
    let writer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let written = async {
            stdin.write_all(&commands).await?;
            stdin.flush().await
        }
        .await;
        (stdin, written)
    });
    let mut queued = HashSet::new();
    let mut acked = HashSet::new();
    let done = agent
        .consume("acks for every message", LONG, |_, v| {
            count_acks(v, &mut queued, &mut acked, count)
        })
        .await;
    let (stdin, written) = writer
        .await
        .map_err(|e| format!("stdin writer task failed: {e}"))?;
    agent.put_stdin(stdin);
    written.map_err(|e| agent.failure(format!("cannot write to stdin: {e}")))?;
    done
}

/// One line of a sender: true once `count` messages are acked.
fn count_acks(
    v: &Value,
    queued: &mut HashSet<String>,
    acked: &mut HashSet<String>,
    count: usize,
) -> Result<bool, Failure> {
    match v["event"].as_str() {
        Some("queued") => {
            queued.insert(v["id"].as_str().unwrap_or_default().to_owned());
        }
        Some("message_state") => {
            let id = v["id"].as_str().unwrap_or_default();
            match v["state"].as_str() {
                Some("acked" | "delivered") if queued.contains(id) => {
                    acked.insert(id.to_owned());
                }
                Some("failed") => return Err(format!("message {id} failed: {v}")),
                _ => {}
            }
        }
        Some("error") => return Err(format!("the sender reported an error: {v}")),
        _ => {}
    }
    Ok(acked.len() == count)
}

/// One line of a receiver: records `message` events from `from`; an error
/// if one body is announced twice. True once `count` distinct ones came.
fn count_received(
    v: &Value,
    from: &str,
    seen: &mut HashSet<String>,
    count: usize,
) -> Result<bool, Failure> {
    if v["event"] == "message" && v["from"] == from {
        let body = v["body"].as_str().unwrap_or_default();
        if !seen.insert(body.to_owned()) {
            return Err(format!("message {body:?} announced twice"));
        }
    }
    Ok(seen.len() == count)
}

/// Asks for the stored conversation with `with` and checks that it holds
/// exactly `count` incoming messages, each body once.
async fn verify_history(agent: &mut Agent, with: &str, count: usize) -> Result<(), Failure> {
    agent
        .command(json!({"cmd": "history", "with": with, "limit": count + 100}))
        .await?;
    let (_, v) = agent
        .wait_for("history", Duration::from_secs(60), |v| {
            v["event"] == "history"
        })
        .await?;
    let messages = v["messages"].as_array().cloned().unwrap_or_default();
    let incoming: Vec<&str> = messages
        .iter()
        .filter(|m| m["outgoing"] == false && m["from"] == with)
        .filter_map(|m| m["body"].as_str())
        .collect();
    let distinct: HashSet<&str> = incoming.iter().copied().collect();
    if incoming.len() != count || distinct.len() != count {
        return Err(agent.failure(format!(
            "history holds {} messages from {with} ({} distinct), expected {count}",
            incoming.len(),
            distinct.len()
        )));
    }
    Ok(())
}

/// Scenario 2, catch-up: a client logs in once, goes offline, gets N messages, and
/// logs in again; how long until all N are stored, and its peak memory.
pub async fn catch_up(b: &mut Bench) -> Result<Vec<Row>, Failure> {
    let n = b.settings.catch_up_messages;
    let mut time = PerKind::default();
    let mut memory = PerKind::default();
    for _ in 0..b.settings.slow_runs {
        // Receivers: one first login each (online, catch-up done), then off.
        let mut receivers = Vec::new();
        for kind in b.kinds() {
            let jid = b.account("cu").await;
            let spec = b.spec(kind, &jid, b.server.starttls_addr(), Tls::StartTls);
            let mut agent = Agent::spawn(&b.programs, &spec)?;
            agent.wait_ready(ONLINE).await?;
            agent.quit().await?;
            receivers.push(spec);
        }
        // One sender (ours) fills every receiver's archive while offline.
        let sender_jid = b.account("cusend").await;
        let sender_spec = b.spec(
            Kind::Ours,
            &sender_jid,
            b.server.starttls_addr(),
            Tls::StartTls,
        );
        let mut sender = Agent::spawn(&b.programs, &sender_spec)?;
        sender.wait_ready(ONLINE).await?;
        let mut commands = Vec::new();
        for spec in &receivers {
            commands.extend(send_lines(&spec.jid, "catch-up", n));
        }
        send_and_wait_acked(&mut sender, commands, n * receivers.len()).await?;
        sender.quit().await?;

        for spec in &receivers {
            let mut agent = Agent::spawn(&b.programs, spec)?;
            let (start, _) = agent.wait_state("connecting", ONLINE).await?;
            let mut seen = HashSet::new();
            let mut complete = false;
            let done = agent
                .consume("every archived message", LONG, |_, v| {
                    if v["event"] == "catchup" && v["complete"] == true {
                        complete = true;
                    }
                    Ok(count_received(v, &sender_jid, &mut seen, n)? && complete)
                })
                .await?;
            time.push(spec.kind, (done - start).as_secs_f64());
            memory.push(spec.kind, b.stats(&agent)?.hwm as f64);
            verify_history(&mut agent, &sender_jid, n).await?;
            agent.quit().await?;
        }
    }
    Ok(vec![
        Row {
            scenario: "2",
            figure: format!("catch-up of {n} archived messages: time until all stored"),
            unit: Unit::Seconds,
            ours: time.ours,
            theirs: b.theirs(time.theirs),
            reference: String::new(),
            note: "The client logs in once (empty archive) and quits; our agent, as another \
                   account, sends the messages to it (all acked by the server); the client \
                   starts again on the same store: from its `connecting` line until every \
                   message event and `catchup complete`. Prosody also delivers them as offline \
                   messages; both clients drop copies by stanza-id. Then `history` must hold \
                   each message exactly once"
                .into(),
        },
        Row {
            scenario: "2",
            figure: "catch-up: peak memory (VmHWM) of the client".into(),
            unit: Unit::Bytes,
            ours: memory.ours,
            theirs: b.theirs(memory.theirs),
            reference: String::new(),
            note: "VmHWM of the whole process when the catch-up is done (for slixmpp, the \
                   Python interpreter with slixmpp loaded)"
                .into(),
        },
    ])
}

// ------------------------------------------------------------ scenario 4

/// Scenario 4, throughput: N messages from one client to another through Prosody
/// until all are acked and received; CPU of each process meanwhile.
pub async fn throughput(b: &mut Bench) -> Result<Vec<Row>, Failure> {
    let n = b.settings.throughput_messages;
    let mut rate = PerKind::default();
    let mut cpu_sender = PerKind::default();
    let mut cpu_receiver = PerKind::default();
    let mut cpu_server = PerKind::default();
    for kind in b.kinds() {
        for _ in 0..b.settings.slow_runs {
            let from = b.account("tps").await;
            let to = b.account("tpr").await;
            let addr = b.server.starttls_addr();
            let mut sender = Agent::spawn(&b.programs, &b.spec(kind, &from, addr, Tls::StartTls))?;
            let mut receiver = Agent::spawn(&b.programs, &b.spec(kind, &to, addr, Tls::StartTls))?;
            sender.wait_ready(ONLINE).await?;
            receiver.wait_ready(ONLINE).await?;
            tokio::time::sleep(Duration::from_millis(500)).await;
            sender.forget_pending();
            receiver.forget_pending();

            let before = (b.stats(&sender)?, b.stats(&receiver)?, b.server_cpu()?);
            let start = Instant::now();
            let mut seen = HashSet::new();
            let (sent, received) = tokio::join!(
                send_and_wait_acked(&mut sender, send_lines(&to, "throughput", n), n),
                receiver.consume("every message", LONG, |_, v| count_received(
                    v, &from, &mut seen, n
                )),
            );
            let end = sent?.max(received?);
            let after = (b.stats(&sender)?, b.stats(&receiver)?, b.server_cpu()?);
            rate.push(kind, n as f64 / (end - start).as_secs_f64());
            cpu_sender.push(kind, after.0.cpu - before.0.cpu);
            cpu_receiver.push(kind, after.1.cpu - before.1.cpu);
            cpu_server.push(kind, after.2 - before.2);
            sender.quit().await?;
            receiver.quit().await?;
        }
    }
    let cpu_note = "CPU seconds (user + system, /proc/PID/stat) from the first send until all \
                    acked and received; the machine has 2 cores";
    Ok(vec![
        Row {
            scenario: "4",
            figure: format!("throughput, {n} messages A→B: all acked and received"),
            unit: Unit::MessagesPerSecond,
            ours: rate.ours,
            theirs: b.theirs(rate.theirs),
            reference: String::new(),
            note: "Two accounts online over STARTTLS (no proxy); the `send` lines are written \
                   to the sender as fast as it reads them; from the first write until the \
                   sender reported every message acked (XEP-0198) and the receiver announced \
                   every one, once. Both request and answer XEP-0184 receipts. slixmpp asks \
                   for an ack every 5 stanzas (its default window) and when a burst ends"
                .into(),
        },
        cpu_row("throughput: CPU of the sender", cpu_sender, b, cpu_note),
        cpu_row("throughput: CPU of the receiver", cpu_receiver, b, cpu_note),
        cpu_row(
            "throughput: CPU of Prosody",
            cpu_server,
            b,
            "same server for both; the slixmpp column is Prosody during the slixmpp runs",
        ),
    ])
}

fn cpu_row(figure: &str, samples: PerKind, b: &Bench, note: &str) -> Row {
    Row {
        scenario: "4",
        figure: figure.into(),
        unit: Unit::Seconds,
        ours: samples.ours,
        theirs: b.theirs(samples.theirs),
        reference: String::new(),
        note: note.into(),
    }
}

// ------------------------------------------------------------ scenario 5

/// Fills the store in `dir` with `count` incoming messages from `from`,
/// through the core's own store API (what a long-used phone would have).
fn fill_store(dir: &Path, from: &str, count: usize) -> Result<(), Failure> {
    let store = Store::open(&dir.join(STORE_FILE))
        .map_err(|e| format!("cannot open a store in {}: {e}", dir.display()))?;
    let base = Utc
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .ok_or("bad base date")?;
    for i in 0..count {
        let stanza_id = format!("fill-{i}");
        let body =
            format!("message {i} of a long conversation, long enough to look like a real one");
        let stored = store
            .insert_incoming(NewIncoming {
                file_url: None,
                from,
                remote_id: Some(&stanza_id),
                origin_id: Some(&stanza_id),
                stanza_id: Some(&stanza_id),
                body: &body,
                timestamp: base + chrono::Duration::seconds(i as i64),
                markable: false,
            })
            .map_err(|e| format!("cannot fill the store: {e}"))?;
        if stored.is_none() {
            return Err(format!("filler message {i} was taken for a copy"));
        }
    }
    Ok(())
}

/// Scenario 5, memory: our agent online and idle, with an empty store and with a
/// store of N messages.
pub async fn memory(b: &mut Bench) -> Result<Vec<Row>, Failure> {
    let n = b.settings.store_messages;
    let friend = format!("friend@{}", b.server.domain());
    let mut empty = Samples::default();
    let mut full = Samples::default();
    let mut full_hwm = Samples::default();
    for _ in 0..b.settings.slow_runs {
        for filled in [false, true] {
            let jid = b.account("mem").await;
            let spec = b.spec(Kind::Ours, &jid, b.server.starttls_addr(), Tls::StartTls);
            if filled {
                let started = Instant::now();
                fill_store(&spec.store, &friend, n)?;
                eprintln!(
                    "bench: filled a store with {n} messages in {:.1} s",
                    started.elapsed().as_secs_f64()
                );
            }
            let mut agent = Agent::spawn(&b.programs, &spec)?;
            agent.wait_ready(ONLINE).await?;
            tokio::time::sleep(b.settings.memory_idle).await;
            let stats = b.stats(&agent)?;
            if filled {
                full.push(stats.rss as f64);
                full_hwm.push(stats.hwm as f64);
                // The agent really holds that store.
                agent.command(json!({"cmd": "conversations"})).await?;
                let (_, v) = agent
                    .wait_for("conversations", ONLINE, |v| v["event"] == "conversations")
                    .await?;
                let unread = v["items"]
                    .as_array()
                    .and_then(|items| items.iter().find(|i| i["with"] == friend.as_str()))
                    .and_then(|i| i["unread"].as_u64());
                if unread != Some(n as u64) {
                    return Err(
                        agent.failure(format!("the agent does not see the filled store: {v}"))
                    );
                }
            } else {
                empty.push(stats.rss as f64);
            }
            agent.quit().await?;
        }
    }
    let idle = b.settings.memory_idle.as_secs_f64();
    Ok(vec![
        Row {
            scenario: "5",
            figure: "memory (VmRSS), online and idle, empty store".into(),
            unit: Unit::Bytes,
            ours: empty,
            theirs: Theirs::NotApplicable,
            reference: String::new(),
            note: format!("after login and catch-up, {idle:.0} s idle; ours only"),
        },
        Row {
            scenario: "5",
            figure: format!("memory (VmRSS), online and idle, {n}-message store"),
            unit: Unit::Bytes,
            ours: full,
            theirs: Theirs::NotApplicable,
            reference: String::new(),
            note: format!(
                "store filled through jabberkit::store::Store before start; {idle:.0} s idle; \
                 ours only"
            ),
        },
        Row {
            scenario: "5",
            figure: format!("peak memory (VmHWM) with the {n}-message store"),
            unit: Unit::Bytes,
            ours: full_hwm,
            theirs: Theirs::NotApplicable,
            reference: String::new(),
            note: "ours only".into(),
        },
    ])
}

// ------------------------------------------------------------ scenario 6

/// Scenario 6, idle traffic: our agent online, in the background (CSI inactive), a
/// quiet account; client→server packets over a window, per hour.
pub async fn idle_traffic(b: &mut Bench) -> Result<Vec<Row>, Failure> {
    let window = b.settings.idle_window;
    // The runs go side by side (one proxy and account each): the window is
    // long, and idle clients do not disturb each other.
    let mut clients = Vec::new();
    for _ in 0..b.settings.slow_runs {
        let proxy = FaultProxy::start(b.server.starttls_addr()).await;
        let jid = b.account("idle").await;
        let spec = b.spec(Kind::Ours, &jid, proxy.addr(), Tls::StartTls);
        let agent = Agent::spawn(&b.programs, &spec)?;
        clients.push((proxy, agent));
    }
    let mut csi = "sent `foreground active:false` (XEP-0352 inactive)".to_string();
    for (_, agent) in &mut clients {
        agent.wait_ready(ONLINE).await?;
        agent
            .command(json!({"cmd": "foreground", "active": false}))
            .await?;
        let refused = agent
            .wait_for("an answer to foreground", Duration::from_secs(1), |v| {
                v["event"] == "error"
            })
            .await;
        if refused.is_ok() {
            csi = "`foreground` is not supported by this agent build: measured without CSI"
                .to_string();
        }
    }
    // Let the login's tail settle before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before: Vec<(u64, u64)> = clients
        .iter()
        .map(|(p, _)| (p.chunks_up(), p.bytes_up()))
        .collect();
    tokio::time::sleep(window).await;
    let per_hour = 3600.0 / window.as_secs_f64();
    let mut packets = Samples::default();
    let mut bytes = Samples::default();
    for ((proxy, agent), (chunks0, bytes0)) in clients.iter_mut().zip(&before) {
        if agent.exited() {
            return Err(agent.failure("exited while idle"));
        }
        packets.push((proxy.chunks_up() - chunks0) as f64 * per_hour);
        bytes.push((proxy.bytes_up() - bytes0) as f64 * per_hour);
    }
    for (_, agent) in clients {
        agent.quit().await?;
    }
    let keepalive = jabberkit::ClientConfig::new("a@b", "", "/").keepalive_idle;
    let note = format!(
        "client→server write chunks at the proxy over {:.0} s, × {per_hour:.0}; keepalive \
         the config default ({} s idle); {csi}",
        window.as_secs_f64(),
        keepalive.as_secs()
    );
    Ok(vec![
        Row {
            scenario: "6",
            figure: "idle traffic, quiet account in the background: packets up".into(),
            unit: Unit::PerHour,
            ours: packets,
            theirs: Theirs::NotApplicable,
            reference: String::new(),
            note: note.clone(),
        },
        Row {
            scenario: "6",
            figure: "idle traffic: bytes up (TLS records)".into(),
            unit: Unit::BytesPerHour,
            ours: bytes,
            theirs: Theirs::NotApplicable,
            reference: String::new(),
            note: "same window; ours only".into(),
        },
    ])
}
