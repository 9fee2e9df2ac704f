//! Helpers shared by the core's integration tests (each test binary
//! includes this module; not every binary uses every helper).
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use jabberkit::{
    Client, ClientConfig, ConnectionState, DeliveryState, Direction, Event, FailureReason,
    RoomError, TlsMode,
};
use jabberkit_testkit::server::{ServerKind, TestServer};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_xmpp::jid::Jid;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::message::{Id, Lang, Message};

pub const PASSWORD: &str = "correct horse battery staple";
pub const WAIT: Duration = Duration::from_secs(40);

pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("JABBERKIT_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// A config with test-friendly timings: dead links are noticed in a few
/// seconds, retries come quickly.
pub fn config(
    server: &TestServer,
    jid: &str,
    via: SocketAddr,
    tls: TlsMode,
    store: &Path,
) -> ClientConfig {
    let mut cfg = ClientConfig::new(jid, PASSWORD, store);
    cfg.server = Some(via.to_string());
    cfg.tls = tls;
    cfg.extra_ca_pem = Some(server.ca_pem());
    cfg.keepalive_idle = Duration::from_secs(2);
    cfg.keepalive_timeout = Duration::from_secs(2);
    cfg.min_retry_delay = Duration::from_millis(200);
    cfg.max_retry_delay = Duration::from_secs(2);
    cfg.connect_timeout = Duration::from_secs(5);
    cfg
}

/// An account on `server` over STARTTLS, not connected.
pub fn open(server: &TestServer, jid: &str, dir: &Path) -> Account {
    Account::new(config(
        server,
        jid,
        server.starttls_addr(),
        TlsMode::StartTls,
        dir,
    ))
}

/// alice/phone and bob/desk, registered on `server` with stores of their
/// own, not connected.
pub struct Pair {
    pub alice: Account,
    pub bob: Account,
    pub alice_jid: String,
    pub bob_jid: String,
    pub dirs: [tempfile::TempDir; 2],
}

pub async fn pair(server: &TestServer) -> Pair {
    init_logs();
    let alice_jid = server.register("alice", PASSWORD).await;
    let bob_jid = server.register("bob", PASSWORD).await;
    let dirs = [(); 2].map(|_| tempfile::tempdir().expect("tmp"));
    let alice = open(server, &format!("{alice_jid}/phone"), dirs[0].path());
    let bob = open(server, &format!("{bob_jid}/desk"), dirs[1].path());
    Pair {
        alice,
        bob,
        alice_jid,
        bob_jid,
        dirs,
    }
}

/// Connects and waits for the first roster fetch to be stored.
pub async fn online(a: &mut Account) {
    a.client.connect().expect("connect");
    a.wait_online().await;
    a.wait_for("roster fetched", |e| matches!(e, Event::RosterChanged))
        .await;
}

// ----- Several devices, and stanzas the public API cannot send.

/// alice/phone, alice/laptop and bob online (see [`devices`]).
pub struct Devices {
    pub phone: Account,
    pub laptop: Account,
    pub bob: Account,
    pub alice_jid: String,
    pub bob_jid: String,
    pub _dirs: [tempfile::TempDir; 3],
}

/// Starts alice/phone, alice/laptop and bob, with both alice devices'
/// presence and carbons request processed by the server.
pub async fn devices(server: &TestServer) -> Devices {
    init_logs();
    let alice_jid = server.register("alice", PASSWORD).await;
    let bob_jid = server.register("bob", PASSWORD).await;
    let dirs = [(); 3].map(|_| tempfile::tempdir().expect("tmp"));
    let addr = server.starttls_addr();
    let account = |jid: &str, dir: &tempfile::TempDir| {
        Account::new(config(server, jid, addr, TlsMode::StartTls, dir.path()))
    };
    let mut phone = account(&format!("{alice_jid}/phone"), &dirs[0]);
    let mut laptop = account(&format!("{alice_jid}/laptop"), &dirs[1]);
    let mut bob = account(&bob_jid, &dirs[2]);
    for a in [&phone, &laptop, &bob] {
        a.client.connect().expect("connect");
    }
    phone.wait_online().await;
    laptop.wait_online().await;
    bob.wait_online().await;
    // A barrier: a device sends its presence and carbons request before
    // anything else on its stream, so once bob has a message from each,
    // the server has processed both.
    phone.client.send(&bob_jid, "phone here").expect("send");
    laptop.client.send(&bob_jid, "laptop here").expect("send");
    bob.receive_all(&["phone here".into(), "laptop here".into()], WAIT)
        .await;
    Devices {
        phone,
        laptop,
        bob,
        alice_jid,
        bob_jid,
        _dirs: dirs,
    }
}

/// Hands `stanza` to the server's router as if it came from its `from`
/// (Prosody's admin shell, or ejabberdctl send_stanza).
pub async fn inject(server: &TestServer, stanza: Message) {
    let text = |j: &Option<Jid>| j.as_ref().map(Jid::to_string).unwrap_or_default();
    let (from, to) = (text(&stanza.from), text(&stanza.to));
    let xml = String::from(&Element::from(stanza));
    if server.kind() == ServerKind::Ejabberd {
        let out = server.ctl(&["send_stanza", &from, &to, &xml]).await;
        assert!(!out.contains("rror"), "injection failed: {out}");
        return;
    }
    assert!(!xml.contains("]==]"), "{xml}");
    let out = server
        .shell(&format!(
            "> local s = require 'prosody.util.xml'.parse([==[{xml}]==]); s.attr.xmlns = nil; \
             prosody.core_post_stanza(prosody.hosts['{}'], s)",
            server.domain()
        ))
        .await;
    assert!(!out.contains("Error"), "injection failed: {out}");
}

pub fn message(from: &str, to: &str, body: Option<&str>) -> Message {
    let jid = |s: &str| s.parse::<Jid>().expect("jid");
    let mut m = Message::chat(jid(to));
    m.id = Some(Id(uuid::Uuid::new_v4().to_string()));
    m.from = Some(jid(from));
    if let Some(body) = body {
        m = m.with_body(Lang::new(), body.to_owned());
    }
    m
}

/// Waits for an event announcing a message with `body` in `direction`.
pub async fn wait_message(a: &mut Account, body: &str, direction: Direction) -> jabberkit::Message {
    match a
        .wait_for(
            body,
            |e| matches!(e, Event::Message(m) if m.body == body && m.direction == direction),
        )
        .await
    {
        Event::Message(m) => m,
        _ => unreachable!(),
    }
}

// ----- One account.

pub struct Account {
    pub client: Client,
    pub events: UnboundedReceiver<Event>,
    pub jid: String,
}

impl Account {
    pub fn new(cfg: ClientConfig) -> Account {
        let client = Client::new(cfg).expect("client");
        let events = client.events();
        let jid = client.jid();
        Account {
            client,
            events,
            jid,
        }
    }

    /// Waits for the first event matching `f`, skipping others.
    pub async fn wait_for(&mut self, what: &str, mut f: impl FnMut(&Event) -> bool) -> Event {
        let events = &mut self.events;
        tokio::time::timeout(WAIT, async {
            loop {
                match events.recv().await {
                    Some(e) if f(&e) => return e,
                    Some(_) => {}
                    None => panic!("event stream closed while waiting for {what}"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
    }

    pub async fn wait_online(&mut self) -> bool {
        match self
            .wait_for("online", |e| {
                matches!(e, Event::ConnectionState(ConnectionState::Online { .. }))
            })
            .await
        {
            Event::ConnectionState(ConnectionState::Online { resumed }) => resumed,
            _ => unreachable!(),
        }
    }

    /// Collects incoming message events until `bodies` all arrived; returns
    /// how many times each body was announced (duplicates show as > 1).
    pub async fn receive_all(
        &mut self,
        bodies: &[String],
        within: Duration,
    ) -> HashMap<String, usize> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let deadline = tokio::time::Instant::now() + within;
        while bodies.iter().any(|b| !seen.contains_key(b)) {
            let ev = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .unwrap_or_else(|_| {
                    let missing: Vec<_> = bodies
                        .iter()
                        .filter(|b| !seen.contains_key(*b))
                        .take(10)
                        .collect();
                    panic!(
                        "timed out: {} of {} received; missing e.g. {missing:?}",
                        seen.len(),
                        bodies.len()
                    )
                })
                .expect("events closed");
            if let Event::Message(m) = ev {
                if m.direction == Direction::Incoming {
                    *seen.entry(m.body).or_default() += 1;
                }
            }
        }
        seen
    }

    /// Waits until every id is at least `state` (acked or delivered).
    pub async fn wait_states(&mut self, ids: &[String], state: DeliveryState) {
        let deadline = tokio::time::Instant::now() + WAIT * 2;
        loop {
            let pending: Vec<_> = ids
                .iter()
                .filter(|id| {
                    let m = self.client.message(id).expect("read").expect("stored");
                    !reached(m.state, state)
                })
                .collect();
            if pending.is_empty() {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "{} messages never reached {state:?}, e.g. {:?}",
                    pending.len(),
                    pending.first()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn reached(have: DeliveryState, want: DeliveryState) -> bool {
    let rank = |s: DeliveryState| match s {
        DeliveryState::Queued => 0,
        DeliveryState::Sent => 1,
        DeliveryState::Acked => 2,
        DeliveryState::Delivered => 3,
        DeliveryState::Read => 4,
        DeliveryState::Failed | DeliveryState::Received => 99,
    };
    rank(have) >= rank(want) && have != DeliveryState::Failed
}

/// Rows stored for a conversation, by body (a duplicate row shows as > 1).
pub fn stored_bodies(client: &Client, with: &str, direction: Direction) -> HashMap<String, usize> {
    let mut out: HashMap<String, usize> = HashMap::new();
    for m in client.history(with, None, 100_000).expect("history") {
        if m.direction == direction {
            *out.entry(m.body).or_default() += 1;
        }
    }
    out
}

/// Connects, waits until online, and disconnects (a login, for its effect
/// on the store: a pin, a FAST token).
pub async fn online_then_gone(mut a: Account) {
    a.client.connect().expect("connect");
    a.wait_online().await;
    a.client.disconnect().await;
}

/// Connects and waits for the verdict that ends the login for good.
pub async fn refused(mut a: Account) -> FailureReason {
    a.client.connect().expect("connect");
    match a
        .wait_for("failed", |e| {
            matches!(e, Event::ConnectionState(ConnectionState::Failed { .. }))
        })
        .await
    {
        Event::ConnectionState(ConnectionState::Failed { reason }) => reason,
        _ => unreachable!(),
    }
}

/// Waits until `a` is in `room` (panics if the room refuses): our nick.
pub async fn room_joined(a: &mut Account, room: &str) -> String {
    match a
        .wait_for("joined", |e| {
            matches!(e, Event::RoomJoined { room: r, .. } | Event::RoomError { room: r, .. } if r == room)
        })
        .await
    {
        Event::RoomJoined { nick, .. } => nick,
        other => panic!("not joined: {other:?}"),
    }
}

/// Waits until `room` refuses `a` (panics if it lets us in).
pub async fn room_refused(a: &mut Account, room: &str) -> RoomError {
    match a
        .wait_for("refused", |e| {
            matches!(e, Event::RoomJoined { room: r, .. } | Event::RoomError { room: r, .. } if r == room)
        })
        .await
    {
        Event::RoomError { error, .. } => error,
        other => panic!("not refused: {other:?}"),
    }
}
