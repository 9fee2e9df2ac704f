//! `jabberkit agent` as scripts see it: real processes, real Prosody, the
//! JSON-lines contract checked line by line.
//!
//! Needs Prosody 13 (`scripts/prosody install`).

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jabberkit_testkit::proxy::FaultProxy;
use jabberkit_testkit::server::TestServer;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};

/// Upper bound for anything that must happen; never reached when it works.
const WAIT: Duration = Duration::from_secs(20);

const BIN: &str = env!("CARGO_BIN_EXE_jabberkit");

/// How an agent reaches the server.
#[derive(Clone, Copy)]
enum Route {
    StartTls,
    DirectTls,
    /// STARTTLS through a proxy at this address.
    Via(std::net::SocketAddr),
}

/// One running `jabberkit agent`.
struct Agent {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    /// Lines read but not yet matched by a wait, in order.
    pending: Vec<Value>,
    /// Everything it printed, for failure messages.
    transcript: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

impl Agent {
    fn spawn(
        name: &'static str,
        server: &TestServer,
        jid: &str,
        password: &str,
        store: &Path,
        route: Route,
    ) -> Agent {
        let (server_addr, tls) = match route {
            Route::StartTls => (server.starttls_addr(), "starttls"),
            Route::DirectTls => (server.direct_tls_addr(), "direct"),
            Route::Via(addr) => (addr, "starttls"),
        };
        let mut cmd = Command::new(BIN);
        cmd.arg("agent")
            .args(["--jid", jid])
            .arg("--store")
            .arg(store)
            .args(["--server", &server_addr.to_string(), "--tls", tls])
            .arg("--ca")
            .arg(server.ca_pem_path())
            .args(["--keepalive", "5", "--retry-max", "2"])
            .env("JABBERKIT_PASSWORD", password)
            .env("JABBERKIT_LOG", "info");
        Self::start(name, cmd)
    }

    fn start(name: &'static str, mut cmd: Command) -> Agent {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn jabberkit agent");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Agent {
            name,
            stdin: child.stdin.take(),
            child,
            lines,
            pending: Vec::new(),
            transcript: Vec::new(),
            stderr,
        }
    }

    fn diagnostics(&self) -> String {
        let stderr = self
            .stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let tail: Vec<&str> = stderr
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!(
            "--- {} stdout ---\n{}\n--- {} stderr (tail) ---\n{}",
            self.name,
            self.transcript.join("\n"),
            self.name,
            tail.join("\n")
        )
    }

    /// Writes one raw line to the agent's stdin.
    async fn write_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write to agent");
        stdin.flush().await.expect("flush agent stdin");
    }

    async fn command(&mut self, cmd: Value) {
        self.write_line(&cmd.to_string()).await;
    }

    /// The first line (already read or still to come) that matches `pred`;
    /// earlier non-matching lines stay pending for later waits.
    async fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.pending.iter().position(&pred) {
            return self.pending.remove(i);
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let line = match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => line,
                Ok(None) => panic!(
                    "{}: stdout closed while waiting for {what}\n{}",
                    self.name,
                    self.diagnostics()
                ),
                Err(_) => panic!(
                    "{}: timed out waiting for {what}\n{}",
                    self.name,
                    self.diagnostics()
                ),
            };
            self.transcript.push(line.clone());
            let value: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
                panic!(
                    "{}: not a JSON line ({e}): {line:?}\n{}",
                    self.name,
                    self.diagnostics()
                )
            });
            assert!(value.is_object(), "{}: not an object: {line}", self.name);
            if pred(&value) {
                return value;
            }
            self.pending.push(value);
        }
    }

    async fn wait_event(&mut self, event: &str) -> Value {
        self.wait_for(event, |v| v["event"] == event).await
    }

    async fn wait_state(&mut self, state: &str) -> Value {
        self.wait_for(&format!("state {state}"), |v| {
            v["event"] == "state" && v["state"] == state
        })
        .await
    }

    async fn wait_message_state(&mut self, id: &str, states: &[&str]) -> Value {
        self.wait_for(&format!("message_state {states:?} of {id}"), |v| {
            v["event"] == "message_state"
                && v["id"] == id
                && states.iter().any(|s| v["state"] == *s)
        })
        .await
    }

    /// Sends `body` and returns its id, checking the `queued` answer.
    async fn send(&mut self, to: &str, body: &str) -> String {
        self.command(json!({"cmd": "send", "to": to, "body": body}))
            .await;
        let queued = self.wait_event("queued").await;
        assert_eq!(queued["to"], to, "{queued}");
        let id = queued["id"].as_str().expect("queued id").to_owned();
        assert!(!id.is_empty());
        id
    }

    async fn history(&mut self, with: &str, limit: u32) -> Vec<Value> {
        self.command(json!({"cmd": "history", "with": with, "limit": limit}))
            .await;
        let history = self.wait_event("history").await;
        assert_eq!(history["with"], with, "{history}");
        history["messages"]
            .as_array()
            .expect("messages array")
            .clone()
    }

    /// Waits for the process to exit and returns its code.
    async fn exit_code(mut self) -> i32 {
        match timeout(WAIT, self.child.wait()).await {
            Ok(Ok(status)) => status.code().expect("exited, not killed"),
            Ok(Err(e)) => panic!("{}: wait failed: {e}", self.name),
            Err(_) => panic!("{}: did not exit\n{}", self.name, self.diagnostics()),
        }
    }

    async fn quit(mut self) -> i32 {
        self.command(json!({"cmd": "quit"})).await;
        self.exit_code().await
    }

    /// Closes stdin (EOF) and waits for the exit.
    async fn close_stdin(mut self) -> i32 {
        drop(self.stdin.take());
        self.exit_code().await
    }
}

/// RFC 3339, UTC, milliseconds: `2026-11-26T10:00:00.123Z`.
fn assert_timestamp(v: &Value) {
    let text = v
        .as_str()
        .unwrap_or_else(|| panic!("timestamp is not a string: {v}"));
    let parsed =
        chrono::DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(parsed.offset().local_minus_utc(), 0, "{text}");
    assert!(text.len() == 24 && text.ends_with('Z'), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_chat_with_receipts_keep_history_and_survive_bad_input() {
    let server = TestServer::start().await;
    let alice_jid = server.register("alice", "alice-pw").await;
    let bob_jid = server.register("bob", "bob-pw").await;
    let stores = tempfile::tempdir().expect("tempdir");
    let alice_store = stores.path().join("alice");

    let mut alice = Agent::spawn(
        "alice",
        &server,
        &alice_jid,
        "alice-pw",
        &alice_store,
        Route::StartTls,
    );
    let mut bob = Agent::spawn(
        "bob",
        &server,
        &bob_jid,
        "bob-pw",
        &stores.path().join("bob"),
        Route::DirectTls,
    );
    for agent in [&mut alice, &mut bob] {
        let first = agent.wait_event("state").await;
        assert_eq!(first, json!({"event": "state", "state": "connecting"}));
        let online = agent.wait_state("online").await;
        assert_eq!(online["resumed"], false, "{online}");
    }

    // Alice → Bob: queued at once, then acked by the server and delivered.
    let hello = alice.send(&bob_jid, "Hello Bob ✓").await;
    alice
        .wait_message_state(&hello, &["acked", "delivered"])
        .await;
    let got = bob.wait_event("message").await;
    assert_eq!(got["from"], alice_jid.as_str(), "{got}");
    assert_eq!(got["body"], "Hello Bob ✓", "{got}");
    assert_timestamp(&got["timestamp"]);
    alice.wait_message_state(&hello, &["delivered"]).await;

    // Bob → Alice.
    let reply = bob.send(&alice_jid, "Hi Alice").await;
    bob.wait_message_state(&reply, &["delivered"]).await;
    let got = alice.wait_event("message").await;
    assert_eq!(got["from"], bob_jid.as_str(), "{got}");
    assert_eq!(got["body"], "Hi Alice", "{got}");

    // History: oldest first, bare JIDs by direction.
    let history = alice.history(&bob_jid, 10).await;
    assert_eq!(history.len(), 2, "{history:#?}");
    assert_eq!(history[0]["id"], hello.as_str());
    assert_eq!(history[0]["from"], alice_jid.as_str());
    assert_eq!(history[0]["to"], bob_jid.as_str());
    assert_eq!(history[0]["body"], "Hello Bob ✓");
    assert_eq!(history[0]["outgoing"], true);
    assert_eq!(history[0]["state"], "delivered");
    assert_eq!(history[1]["from"], bob_jid.as_str());
    assert_eq!(history[1]["to"], alice_jid.as_str());
    assert_eq!(history[1]["body"], "Hi Alice");
    assert_eq!(history[1]["outgoing"], false);
    assert_eq!(history[1]["state"], "received");
    for m in &history {
        assert_timestamp(&m["timestamp"]);
    }
    let bob_history = bob.history(&alice_jid, 10).await;
    let bodies: Vec<_> = bob_history.iter().map(|m| m["body"].clone()).collect();
    assert_eq!(bodies, [json!("Hello Bob ✓"), json!("Hi Alice")]);
    assert_eq!(bob_history[1]["id"], reply.as_str());

    alice.command(json!({"cmd": "conversations"})).await;
    let list = alice.wait_event("conversations").await;
    assert_eq!(list["items"][0]["with"], bob_jid.as_str(), "{list}");
    assert_eq!(list["items"][0]["last_body"], "Hi Alice", "{list}");

    // Bad input: an error event each, and the agent keeps working.
    for bad in [
        "this is not json".to_owned(),
        json!({"cmd": "dance"}).to_string(),
        json!({"cmd": "send", "to": bob_jid}).to_string(),
        json!({"cmd": "send", "to": "not a jid@@", "body": "x"}).to_string(),
    ] {
        alice.write_line(&bad).await;
        let err = alice.wait_event("error").await;
        assert!(
            err["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{bad}: {err}"
        );
    }
    alice.command(json!({"cmd": "state"})).await;
    let state = alice.wait_event("state").await;
    assert_eq!(
        state,
        json!({"event": "state", "state": "online", "resumed": false})
    );

    assert_eq!(alice.quit().await, 0);

    // A new agent on the same store: same history, no message announced twice.
    let mut alice = Agent::spawn(
        "alice again",
        &server,
        &alice_jid,
        "alice-pw",
        &alice_store,
        Route::StartTls,
    );
    alice.wait_state("online").await;
    let again = alice.history(&bob_jid, 10).await;
    assert_eq!(again, history);
    let later = alice.send(&bob_jid, "Still here").await;
    alice.wait_message_state(&later, &["delivered"]).await;
    let got = bob.wait_event("message").await;
    assert_eq!(got["body"], "Still here", "{got}");
    assert!(
        !alice.pending.iter().any(|v| v["event"] == "message"),
        "a stored message was announced again: {:#?}",
        alice.pending
    );

    assert_eq!(alice.quit().await, 0);
    assert_eq!(bob.close_stdin().await, 0, "EOF is a clean quit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_link_is_resumed_and_queued_messages_go_out() {
    let server = TestServer::start().await;
    let alice_jid = server.register("alice", "alice-pw").await;
    let bob_jid = server.register("bob", "bob-pw").await;
    let proxy = FaultProxy::start(server.starttls_addr()).await;
    let stores = tempfile::tempdir().expect("tempdir");

    let mut alice = Agent::spawn(
        "alice",
        &server,
        &alice_jid,
        "alice-pw",
        &stores.path().join("a"),
        Route::Via(proxy.addr()),
    );
    let mut bob = Agent::spawn(
        "bob",
        &server,
        &bob_jid,
        "bob-pw",
        &stores.path().join("b"),
        Route::StartTls,
    );
    alice.wait_state("online").await;
    bob.wait_state("online").await;

    proxy.reset_all();
    alice.wait_state("suspended").await;
    // Bob writes while Alice's link is down: the server holds it for her.
    let during = bob.send(&alice_jid, "while you were away").await;
    let online = alice.wait_state("online").await;
    assert_eq!(online["resumed"], true, "{online}");
    let got = alice.wait_event("message").await;
    assert_eq!(got["body"], "while you were away", "{got}");
    bob.wait_message_state(&during, &["delivered"]).await;

    let after = alice.send(&bob_jid, "back again").await;
    alice.wait_message_state(&after, &["delivered"]).await;
    assert_eq!(bob.wait_event("message").await["body"], "back again");

    assert_eq!(alice.quit().await, 0);
    assert_eq!(bob.quit().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_a_failed_state_and_the_agent_stays_up() {
    let server = TestServer::start().await;
    let alice_jid = server.register("alice", "alice-pw").await;
    let store = tempfile::tempdir().expect("tempdir");
    let mut alice = Agent::spawn(
        "alice",
        &server,
        &alice_jid,
        "wrong",
        store.path(),
        Route::StartTls,
    );
    let failed = alice.wait_state("failed").await;
    assert!(
        failed["reason"]
            .as_str()
            .is_some_and(|r| r.contains("authentication")),
        "{failed}"
    );
    // Sending still stores (for a later connect); the API answers.
    alice.send("bob@example.test", "later").await;
    assert_eq!(alice.quit().await, 0);
}

fn agent_without_server(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("agent").args(args).env_remove("JABBERKIT_PASSWORD");
    cmd
}

async fn output_of(mut cmd: Command) -> std::process::Output {
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    timeout(WAIT, cmd.output())
        .await
        .expect("exits")
        .expect("runs")
}

#[tokio::test]
async fn a_missing_password_is_a_usage_error() {
    let store = tempfile::tempdir().expect("tempdir");
    let store = store.path().to_str().expect("utf-8 path");
    let out = output_of(agent_without_server(&[
        "--jid",
        "alice@example.test",
        "--store",
        store,
    ]))
    .await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("JABBERKIT_PASSWORD"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn bad_arguments_are_a_usage_error() {
    for args in [
        &["--store", "/tmp/x"][..],
        &[
            "--jid",
            "alice@example.test",
            "--store",
            "/tmp/x",
            "--tls",
            "plain",
        ],
        &[
            "--jid",
            "alice@example.test",
            "--store",
            "/tmp/x",
            "--password",
            "pw",
        ],
    ] {
        let mut cmd = agent_without_server(args);
        cmd.env("JABBERKIT_PASSWORD", "pw");
        let out = output_of(cmd).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[tokio::test]
async fn a_client_that_cannot_be_created_exits_1() {
    let store = tempfile::tempdir().expect("tempdir");
    let store = store.path().to_str().expect("utf-8 path");
    let mut cmd = agent_without_server(&["--jid", "no-user-part.test", "--store", store]);
    cmd.env("JABBERKIT_PASSWORD", "pw");
    let out = output_of(cmd).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("user part"), "{stderr}");
}

/// alice (STARTTLS) and bob (direct TLS), registered and online.
async fn alice_and_bob_online(
    server: &TestServer,
    stores: &Path,
) -> (Agent, String, Agent, String) {
    let alice_jid = server.register("alice", "alice-pw").await;
    let bob_jid = server.register("bob", "bob-pw").await;
    let mut alice = Agent::spawn(
        "alice",
        server,
        &alice_jid,
        "alice-pw",
        &stores.join("alice"),
        Route::StartTls,
    );
    let mut bob = Agent::spawn(
        "bob",
        server,
        &bob_jid,
        "bob-pw",
        &stores.join("bob"),
        Route::DirectTls,
    );
    for agent in [&mut alice, &mut bob] {
        agent.wait_state("online").await;
    }
    (alice, alice_jid, bob, bob_jid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_are_added_with_permission_through_the_agent() {
    let server = TestServer::start().await;
    let stores = tempfile::tempdir().expect("tempdir");
    let (mut alice, alice_jid, mut bob, bob_jid) =
        alice_and_bob_online(&server, stores.path()).await;
    // Both must be available for the request to be pushed live.
    let id = alice.send(&bob_jid, "may I add you?").await;
    alice.wait_message_state(&id, &["delivered"]).await;
    let id = bob.send(&alice_jid, "sure").await;
    bob.wait_message_state(&id, &["delivered"]).await;

    alice
        .command(json!({"cmd": "add_contact", "jid": bob_jid, "name": "Bob"}))
        .await;
    let request = bob.wait_event("subscription_request").await;
    assert_eq!(request["from"], alice_jid.as_str(), "{request}");
    bob.command(json!({"cmd": "approve", "jid": alice_jid}))
        .await;

    // Alice now sees Bob (subscription "to" at least), named as she chose.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        alice.wait_event("roster_changed").await;
        alice.command(json!({"cmd": "roster"})).await;
        let roster = alice.wait_event("roster").await;
        let item = &roster["items"][0];
        if item["subscription"] == "to" || item["subscription"] == "both" {
            assert_eq!(item["jid"], bob_jid.as_str(), "{roster}");
            assert_eq!(item["name"], "Bob", "{roster}");
            assert_eq!(item["ask"], false, "{roster}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never subscribed: {roster}"
        );
    }
    assert_eq!(alice.quit().await, 0);
    assert_eq!(bob.quit().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_markers_corrections_and_foreground_through_the_agent() {
    let server = TestServer::start().await;
    let stores = tempfile::tempdir().expect("tempdir");
    let (mut alice, alice_jid, mut bob, bob_jid) =
        alice_and_bob_online(&server, stores.path()).await;
    // Accepted silently: an answer would only be an error.
    alice
        .command(json!({"cmd": "foreground", "active": false}))
        .await;

    let id = alice.send(&bob_jid, "see you at 9").await;
    alice.wait_message_state(&id, &["delivered"]).await;
    let got = bob.wait_event("message").await;
    assert_eq!(got["body"], "see you at 9", "{got}");

    // bob reads: alice sees her message read.
    bob.command(json!({"cmd": "mark_read", "with": alice_jid}))
        .await;
    let marked = bob.wait_event("marked_read").await;
    assert_eq!(marked["count"], 1, "{marked}");
    alice.wait_message_state(&id, &["read"]).await;

    // alice corrects it: bob's copy changes in place.
    alice
        .command(json!({"cmd": "correct", "id": id, "body": "see you at 10"}))
        .await;
    let answer = alice.wait_event("message_corrected").await;
    assert_eq!(answer["id"], id.as_str(), "{answer}");
    assert_eq!(answer["body"], "see you at 10", "{answer}");
    let seen = bob.wait_event("message_corrected").await;
    assert_eq!(seen["id"], got["id"], "{seen}");
    assert_eq!(seen["with"], alice_jid.as_str(), "{seen}");
    assert_eq!(seen["body"], "see you at 10", "{seen}");
    let history = bob.history(&alice_jid, 10).await;
    let bodies: Vec<_> = history.iter().map(|m| m["body"].clone()).collect();
    assert_eq!(bodies, [json!("see you at 10")]);

    // Only the last message of ours can be corrected; the error says why.
    alice
        .command(json!({"cmd": "correct", "id": got["id"], "body": "x"}))
        .await;
    let err = alice.wait_event("error").await;
    assert!(
        err["message"]
            .as_str()
            .unwrap_or_default()
            .contains("correct"),
        "{err}"
    );
    assert_eq!(alice.quit().await, 0);
    assert_eq!(bob.quit().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_goes_up_and_reaches_the_peer_through_the_agent() {
    let server = TestServer::start().await;
    let stores = tempfile::tempdir().expect("tempdir");
    let (mut alice, _alice_jid, mut bob, bob_jid) =
        alice_and_bob_online(&server, stores.path()).await;
    let path = stores.path().join("menu.pdf");
    std::fs::write(&path, vec![7u8; 200 * 1024]).expect("write");
    alice
        .command(json!({"cmd": "send_file", "to": bob_jid, "path": path}))
        .await;
    let queued = alice.wait_event("queued").await;
    let id = queued["id"].as_str().expect("id").to_owned();
    let progress = alice.wait_event("transfer").await;
    assert_eq!(progress["id"], id.as_str(), "{progress}");
    assert_eq!(progress["total"], 200 * 1024, "{progress}");
    let uploaded = alice.wait_event("uploaded").await;
    let url = uploaded["url"].as_str().expect("url").to_owned();
    assert!(url.starts_with("https://"), "{uploaded}");
    alice.wait_message_state(&id, &["delivered"]).await;
    let got = bob.wait_event("message").await;
    assert_eq!(got["body"], url.as_str(), "{got}");
    assert_eq!(got["file"]["name"], "menu.pdf", "{got}");
    assert_eq!(got["file"]["url"], url.as_str(), "{got}");

    // Bob fetches it.
    let inbox = stores.path().join("inbox");
    std::fs::create_dir(&inbox).expect("mkdir");
    bob.command(json!({"cmd": "download", "id": got["id"], "dir": inbox}))
        .await;
    let done = bob.wait_event("downloaded").await;
    assert_eq!(done["id"], got["id"], "{done}");
    let local = done["path"].as_str().expect("path");
    assert_eq!(std::fs::read(local).expect("file"), vec![7u8; 200 * 1024]);

    // A path that is no file is refused with a reason.
    alice
        .command(json!({"cmd": "send_file", "to": bob_jid, "path": "/no/such/file"}))
        .await;
    let err = alice.wait_event("error").await;
    assert!(
        err["message"].as_str().unwrap_or_default().contains("file"),
        "{err}"
    );
    assert_eq!(alice.quit().await, 0);
    assert_eq!(bob.quit().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_is_enabled_and_notifies_through_the_agent() {
    let server = TestServer::start_with(jabberkit_testkit::server::ServerOptions {
        kind: jabberkit_testkit::server::ServerKind::Prosody,
        ..Default::default()
    })
    .await;
    let stores = tempfile::tempdir().expect("tempdir");
    let (mut alice, alice_jid, mut bob, _bob_jid) =
        alice_and_bob_online(&server, stores.path()).await;
    let service = server.push_service();
    alice
        .command(json!({"cmd": "enable_push", "service": service, "node": "n1", "secret": "s"}))
        .await;
    let answer = alice.wait_event("push").await;
    assert_eq!(answer["node"], "n1", "{answer}");
    assert_eq!(answer["enabled"], true, "{answer}");
    assert_eq!(alice.quit().await, 0);
    bob.send(&alice_jid, "ping me").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !server
        .push_notifications()
        .iter()
        .any(|p| p.node == "n1" && p.body.as_deref() == Some("ping me"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            server.push_notifications()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(bob.quit().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_is_changed_and_the_account_removed_through_the_agent() {
    let server = TestServer::start().await;
    let stores = tempfile::tempdir().expect("tempdir");
    let (mut alice, _alice_jid, bob, _bob_jid) = alice_and_bob_online(&server, stores.path()).await;
    alice
        .command(json!({"cmd": "change_password", "password": ""}))
        .await;
    let err = alice.wait_event("account_error").await;
    assert_eq!(err["reason"], "invalid_input", "{err}");
    alice
        .command(json!({"cmd": "change_password", "password": "alice-pw-2"}))
        .await;
    alice.wait_event("password_changed").await;
    alice.command(json!({"cmd": "delete_account"})).await;
    alice.wait_event("account_deleted").await;
    alice.wait_state("disconnected").await;
    assert_eq!(alice.quit().await, 0);
    assert_eq!(bob.quit().await, 0);
}

/// Applies a `conversation_list`, `timeline` or `occupants_diff` event's
/// diffs to `list`.
fn apply_diffs(list: &mut Vec<Value>, event: &Value) {
    for diff in event["diffs"].as_array().expect("diffs") {
        let index = diff["index"].as_u64().unwrap_or_default() as usize;
        match diff["op"].as_str().expect("op") {
            "reset" => *list = diff["items"].as_array().expect("items").clone(),
            "insert" => list.insert(index, diff["item"].clone()),
            "set" => list[index] = diff["item"].clone(),
            "remove" => drop(list.remove(index)),
            other => panic!("unknown op {other}: {event}"),
        }
    }
}

/// What a script that watches the conversation list and one timeline sees.
#[derive(Default)]
struct Watched {
    list: Vec<Value>,
    timeline: Vec<Value>,
}

impl Watched {
    /// Applies the next list or timeline event; returns a `paginated` answer.
    async fn next(&mut self, agent: &mut Agent) -> Option<Value> {
        let event = agent
            .wait_for("a watched list's event", |v| {
                ["conversation_list", "timeline", "paginated"]
                    .contains(&v["event"].as_str().unwrap_or(""))
            })
            .await;
        match event["event"].as_str() {
            Some("conversation_list") => apply_diffs(&mut self.list, &event),
            Some("timeline") => apply_diffs(&mut self.timeline, &event),
            _ => return Some(event),
        }
        None
    }

    /// Applies events until both lists equal what `history` (the newest
    /// `size` messages with `with`) and `conversations` answer.
    async fn settle(&mut self, agent: &mut Agent, with: &str, size: usize) {
        for _ in 0..200 {
            let history = agent.history(with, size as u32).await;
            agent.command(json!({"cmd": "conversations"})).await;
            let conversations = agent.wait_event("conversations").await;
            if history.len() == size
                && self.timeline == history
                && Some(&self.list) == conversations["items"].as_array()
            {
                return;
            }
            self.next(agent).await;
        }
        panic!(
            "the watched lists never matched the store: {:?} / {:?}",
            self.list, self.timeline
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watched_lists_show_what_the_store_holds_through_the_agent() {
    let server = TestServer::start().await;
    let stores = tempfile::tempdir().expect("tempdir");
    let (mut alice, alice_jid, mut bob, bob_jid) =
        alice_and_bob_online(&server, stores.path()).await;
    for i in 0..3 {
        bob.send(&alice_jid, &format!("before {i}")).await;
        alice.wait_event("message").await;
    }
    alice.command(json!({"cmd": "watch_conversations"})).await;
    alice
        .command(json!({"cmd": "watch_timeline", "with": bob_jid, "page": 2}))
        .await;
    let mut watched = Watched::default();
    watched.settle(&mut alice, &bob_jid, 2).await;

    for i in 0..10 {
        bob.send(&alice_jid, &format!("burst {i}")).await;
    }
    let ours = alice.send(&bob_jid, "see you at 9").await;
    alice
        .command(json!({"cmd": "correct", "id": ours, "body": "see you at 10"}))
        .await;
    watched.settle(&mut alice, &bob_jid, 2 + 11).await;
    assert!(watched
        .timeline
        .iter()
        .any(|m| m["id"] == ours.as_str() && m["body"] == "see you at 10"));

    // The one older message: its diff comes before the answer.
    alice
        .command(json!({"cmd": "paginate_back", "with": bob_jid, "count": 5}))
        .await;
    let answer = loop {
        if let Some(answer) = watched.next(&mut alice).await {
            break answer;
        }
    };
    assert_eq!(answer["more"], false, "{answer}");
    assert_eq!(watched.timeline.len(), 3 + 11);
    watched.settle(&mut alice, &bob_jid, 3 + 11).await;

    // Paging an unwatched timeline is refused.
    alice
        .command(json!({"cmd": "paginate_back", "with": alice_jid}))
        .await;
    let err = alice.wait_event("error").await;
    assert!(
        err["message"]
            .as_str()
            .unwrap_or_default()
            .contains("watch_timeline"),
        "{err}"
    );
    assert_eq!(alice.quit().await, 0);
    assert_eq!(bob.quit().await, 0);
}

/// Applies `occupants_diff` events for `room` to `list` until it holds
/// exactly `nicks` and equals the agent's `occupants` answer.
async fn settle_occupants(agent: &mut Agent, list: &mut Vec<Value>, room: &str, nicks: &[&str]) {
    for _ in 0..200 {
        agent
            .command(json!({"cmd": "occupants", "room": room}))
            .await;
        let stored = agent.wait_event("occupants").await;
        let shown: Vec<_> = list.iter().map(|o| o["nick"].as_str()).collect();
        let wanted: Vec<_> = nicks.iter().map(|n| Some(*n)).collect();
        if shown == wanted && Some(&*list) == stored["items"].as_array() {
            return;
        }
        let event = agent
            .wait_for("an occupants_diff", |v| {
                v["event"] == "occupants_diff" && v["room"] == room
            })
            .await;
        apply_diffs(list, &event);
    }
    panic!("the watched occupants never showed {nicks:?}: {list:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watched_occupants_follow_joins_and_leaves_through_the_agent() {
    let server = TestServer::start().await;
    let stores = tempfile::tempdir().expect("tempdir");
    let (mut alice, _alice_jid, mut bob, bob_jid) =
        alice_and_bob_online(&server, stores.path()).await;
    let room = "watchers@conference.example.test";
    // Watched before the room exists: a reset with no one, then the room
    // filling up.
    alice
        .command(json!({"cmd": "watch_occupants", "room": room}))
        .await;
    let first = alice.wait_event("occupants_diff").await;
    assert_eq!(
        first,
        json!({"event": "occupants_diff", "room": room,
               "diffs": [{"op": "reset", "items": []}]})
    );
    let mut list = Vec::new();
    alice
        .command(json!({"cmd": "create_room", "room": room, "nick": "alice"}))
        .await;
    alice.wait_event("room_joined").await;
    settle_occupants(&mut alice, &mut list, room, &["alice"]).await;
    bob.command(json!({"cmd": "join_room", "room": room, "nick": "bob"}))
        .await;
    bob.wait_event("room_joined").await;
    settle_occupants(&mut alice, &mut list, room, &["alice", "bob"]).await;
    assert_eq!(
        list[1],
        json!({"nick": "bob", "role": "participant", "affiliation": "none", "jid": bob_jid})
    );

    bob.command(json!({"cmd": "leave_room", "room": room}))
        .await;
    settle_occupants(&mut alice, &mut list, room, &["alice"]).await;

    // A service is not a room: refused, nothing watched.
    alice
        .command(json!({"cmd": "watch_occupants", "room": "conference.example.test"}))
        .await;
    let err = alice.wait_event("error").await;
    assert!(
        err["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not a room"),
        "{err}"
    );
    assert_eq!(alice.quit().await, 0);
    assert_eq!(bob.quit().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_room_through_the_agent() {
    let server = TestServer::start().await;
    let stores = tempfile::tempdir().expect("tempdir");
    let (mut alice, _alice_jid, mut bob, bob_jid) =
        alice_and_bob_online(&server, stores.path()).await;
    let room = "agents@conference.example.test";
    alice
        .command(json!({"cmd": "create_room", "room": room, "nick": "alice",
                        "password": "pw", "persistent": true}))
        .await;
    let joined = alice.wait_event("room_joined").await;
    assert_eq!(joined["room"], room, "{joined}");
    assert_eq!(joined["nick"], "alice", "{joined}");

    bob.command(json!({"cmd": "join_room", "room": room, "nick": "bob"}))
        .await;
    let error = bob.wait_event("room_error").await;
    assert_eq!(error["condition"], "not-authorized", "{error}");
    assert_eq!(error["reason"], "password-required", "{error}");
    // Alice's nickname is taken: the error offers another.
    bob.command(json!({"cmd": "join_room", "room": room, "nick": "alice", "password": "pw"}))
        .await;
    let error = bob.wait_event("room_error").await;
    assert_eq!(error["condition"], "conflict", "{error}");
    assert_eq!(error["suggested_nick"], "alice2", "{error}");
    bob.command(json!({"cmd": "join_room", "room": room, "nick": "bob", "password": "pw"}))
        .await;
    bob.wait_event("room_joined").await;

    let id = alice.send(room, "hello agents").await;
    alice.wait_message_state(&id, &["delivered"]).await;
    let msg = bob
        .wait_for("the room message", |v| {
            v["event"] == "message" && v["body"] == "hello agents"
        })
        .await;
    assert_eq!(msg["room"], room, "{msg}");
    assert_eq!(msg["nick"], "alice", "{msg}");
    assert_eq!(msg["from"], room, "{msg}");
    assert!(msg.get("mention").is_none(), "{msg}");
    alice.send(room, "bob: you too").await;
    let named = bob
        .wait_for("the mention", |v| {
            v["event"] == "message" && v["body"] == "bob: you too"
        })
        .await;
    assert_eq!(named["mention"], true, "{named}");

    bob.command(json!({"cmd": "rooms"})).await;
    let rooms = bob.wait_event("rooms").await;
    assert_eq!(rooms["items"][0]["room"], room, "{rooms}");
    assert_eq!(rooms["items"][0]["joined"], true, "{rooms}");
    alice
        .command(json!({"cmd": "occupants", "room": room}))
        .await;
    let occupants = alice.wait_event("occupants").await;
    let nicks: Vec<_> = occupants["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| o["nick"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(nicks.contains(&"bob".to_owned()), "{occupants}");

    alice
        .command(json!({"cmd": "set_subject", "room": room, "subject": "agents only"}))
        .await;
    let subject = bob
        .wait_for("the subject", |v| {
            v["event"] == "room_subject" && v["subject"] == "agents only"
        })
        .await;
    assert_eq!(subject["room"], room, "{subject}");
    // A participant may not kick; the room says so.
    bob.command(json!({"cmd": "kick", "room": room, "nick": "alice"}))
        .await;
    let refused = bob.wait_event("room_action_failed").await;
    assert_eq!(refused["action"], "kick", "{refused}");

    bob.command(json!({"cmd": "leave_room", "room": room}))
        .await;
    bob.command(json!({"cmd": "rooms"})).await;
    let rooms = bob.wait_event("rooms").await;
    assert_eq!(rooms["items"][0]["autojoin"], false, "{rooms}");
    // Invited back, with the room's password.
    alice
        .command(json!({"cmd": "invite", "room": room, "jid": bob_jid, "reason": "come back"}))
        .await;
    let invite = bob.wait_event("room_invite").await;
    assert_eq!(invite["room"], room, "{invite}");
    assert_eq!(invite["password"], "pw", "{invite}");
    assert_eq!(invite["reason"], "come back", "{invite}");
    // A semi-anonymous room names the inviter by nick.
    assert_eq!(invite["from"], format!("{room}/alice"), "{invite}");
    // Directly: from alice herself, with the password she entered with.
    alice
        .command(json!({"cmd": "invite", "room": room, "jid": bob_jid, "direct": true}))
        .await;
    let invite = bob.wait_event("room_invite").await;
    assert_eq!(invite["room"], room, "{invite}");
    assert_eq!(invite["password"], "pw", "{invite}");
    assert!(
        invite["from"]
            .as_str()
            .unwrap_or_default()
            .starts_with("alice@"),
        "{invite}"
    );
    assert_eq!(alice.quit().await, 0);
    assert_eq!(bob.quit().await, 0);
}

/// `--sign-up` creates the account before the agent runs; the same name
/// again is `sign_up_failed` with `username_taken`, and the agent exits 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_creates_the_account_then_the_agent_runs_and_a_taken_name_exits() {
    let server = TestServer::start().await;
    let jid = format!("erin@{}", server.domain());
    let stores = [(); 2].map(|_| tempfile::tempdir().expect("tmp"));
    let with_sign_up = |store: &Path, password: &str| {
        let mut cmd = Command::new(BIN);
        cmd.arg("agent")
            .args(["--jid", &jid, "--sign-up"])
            .arg("--store")
            .arg(store)
            .args(["--server", &server.starttls_addr().to_string()])
            .arg("--ca")
            .arg(server.ca_pem_path())
            .env("JABBERKIT_PASSWORD", password)
            .env("JABBERKIT_LOG", "info");
        cmd
    };
    let mut erin = Agent::start("erin", with_sign_up(stores[0].path(), "erin's password"));
    let signed = erin.wait_event("signed_up").await;
    assert_eq!(signed["jid"], jid.as_str());
    erin.wait_state("online").await;
    assert_eq!(erin.quit().await, 0);

    let mut again = Agent::start("again", with_sign_up(stores[1].path(), "another"));
    let failed = again.wait_event("sign_up_failed").await;
    assert_eq!(failed["reason"], "username_taken", "{failed}");
    assert_eq!(again.exit_code().await, 1);
}
