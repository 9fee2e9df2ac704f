//! Helpers shared by the core's integration tests (each test binary
//! includes this module; not every binary uses every helper).
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use jabberkit::{Client, ClientConfig, ConnectionState, DeliveryState, Direction, Event, TlsMode};
use jabberkit_testkit::server::TestServer;
use tokio::sync::mpsc::UnboundedReceiver;

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
