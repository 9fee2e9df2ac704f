//! XEP-0368 against a real DNS server (dnsmasq) and a real Prosody: both
//! SRV services are looked up, candidates are tried by priority each with
//! its own TLS mode, a dead candidate moves on to the next, and a refused
//! certificate stops the login without trying another.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use jabberkit::{ConnectionState, Direction, Event, FailureReason, TlsMode};
use jabberkit_testkit::dns::{Record, TestDns};
use jabberkit_testkit::fake::FakeServer;
use jabberkit_testkit::proxy::{FaultProxy, Mode};
use jabberkit_testkit::server::TestServer;

const HOST: &str = "xmpp.example.test";
const XMPPS: &str = "_xmpps-client._tcp.example.test";
const XMPP: &str = "_xmpp-client._tcp.example.test";

/// DNS with a direct TLS record at `direct` and a STARTTLS one at
/// `starttls`, both on `HOST` (127.0.0.1), with these priorities.
async fn dns(direct: (SocketAddr, u16), starttls: (SocketAddr, u16)) -> TestDns {
    TestDns::start(&[
        Record::srv(XMPPS, HOST, direct.0.port(), direct.1),
        Record::srv(XMPP, HOST, starttls.0.port(), starttls.1),
        Record::host(HOST, "127.0.0.1".parse().expect("ip")),
    ])
    .await
}

/// An account with no fixed server: it finds `server` through `dns`.
fn by_srv(
    server: &TestServer,
    jid: &str,
    dns: &TestDns,
    tls: TlsMode,
    dir: &std::path::Path,
) -> Account {
    let mut cfg = config(server, jid, server.starttls_addr(), tls, dir);
    cfg.server = None;
    cfg.dns_servers = vec![dns.addr().to_string()];
    Account::new(cfg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_best_priority_wins_over_the_configured_mode() {
    init_logs();
    let server = TestServer::start().await;
    let jid = server.register("alice", PASSWORD).await;
    let direct = FaultProxy::start(server.direct_tls_addr()).await;
    let starttls = FaultProxy::start(server.starttls_addr()).await;
    let dns = dns((direct.addr(), 0), (starttls.addr(), 5)).await;
    let dir = tempfile::tempdir().expect("tmp");

    let mut alice = by_srv(&server, &jid, &dns, TlsMode::StartTls, dir.path());
    alice.client.connect().expect("connect");
    alice.wait_online().await;
    assert_eq!(direct.connections_accepted(), 1, "{}", dns.log());
    assert_eq!(starttls.connections_accepted(), 0, "{}", dns.log());
    assert!(dns.log().contains(XMPP), "both services are looked up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_direct_tls_candidate_falls_back_to_starttls() {
    init_logs();
    let server = TestServer::start().await;
    let alice_jid = server.register("alice", PASSWORD).await;
    let bob_jid = server.register("bob", PASSWORD).await;
    let direct = FaultProxy::start(server.direct_tls_addr()).await;
    direct.set_mode(Mode::Refuse);
    let starttls = FaultProxy::start(server.starttls_addr()).await;
    let dns = dns((direct.addr(), 0), (starttls.addr(), 5)).await;
    let dirs = [(); 2].map(|_| tempfile::tempdir().expect("tmp"));

    let mut alice = by_srv(
        &server,
        &alice_jid,
        &dns,
        TlsMode::DirectTls,
        dirs[0].path(),
    );
    let mut bob = open(&server, &bob_jid, dirs[1].path());
    alice.client.connect().expect("connect");
    bob.client.connect().expect("connect");
    alice.wait_online().await;
    bob.wait_online().await;
    assert_eq!(starttls.connections_accepted(), 1);
    assert_eq!(direct.connections_accepted(), 0);

    alice.client.send(&bob_jid, "over STARTTLS").expect("send");
    bob.receive_all(&["over STARTTLS".into()], WAIT).await;
    bob.client.send(&alice_jid, "got it").expect("send");
    wait_message(&mut alice, "got it", Direction::Incoming).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackholed_candidate_leaves_time_for_the_next_in_the_same_attempt() {
    init_logs();
    let server = TestServer::start().await;
    let jid = server.register("alice", PASSWORD).await;
    let direct = FaultProxy::start(server.direct_tls_addr()).await;
    direct.set_mode(Mode::Blackhole);
    let starttls = FaultProxy::start(server.starttls_addr()).await;
    let dns = dns((direct.addr(), 0), (starttls.addr(), 5)).await;
    let dir = tempfile::tempdir().expect("tmp");

    let mut alice = by_srv(&server, &jid, &dns, TlsMode::DirectTls, dir.path());
    alice.client.connect().expect("connect");
    let failed_attempt = alice
        .wait_for("online or a retry", |e| {
            matches!(
                e,
                Event::ConnectionState(ConnectionState::Online { .. })
                    | Event::ConnectionState(ConnectionState::Reconnecting { .. })
            )
        })
        .await;
    assert!(
        matches!(
            failed_attempt,
            Event::ConnectionState(ConnectionState::Online { .. })
        ),
        "the first attempt did not reach the second candidate: {failed_attempt:?}"
    );
    assert_eq!(direct.connections_accepted(), 1);
    assert_eq!(starttls.connections_accepted(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_certificate_stops_without_trying_the_next_candidate() {
    init_logs();
    let server = TestServer::start().await;
    let jid = server.register("alice", PASSWORD).await;
    // An impostor for example.test, certified by a CA nobody trusts here.
    let impostor = FakeServer::start(|conn| async move {
        let _ = conn.accept_tls().await;
    })
    .await;
    let starttls = FaultProxy::start(server.starttls_addr()).await;
    let dns = dns((impostor.addr(), 0), (starttls.addr(), 5)).await;
    let dir = tempfile::tempdir().expect("tmp");

    let alice = by_srv(&server, &jid, &dns, TlsMode::DirectTls, dir.path());
    let reason = refused(alice).await;
    assert!(
        matches!(reason, FailureReason::Certificate { .. }),
        "{reason:?}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        starttls.connections_accepted(),
        0,
        "a candidate was tried after a certificate was refused"
    );
}

/// A phone that changes networks passes the new network's DNS servers:
/// the next attempt asks them. Entries that are not addresses are refused,
/// at creation and later, with a typed error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dns_servers_of_a_new_network_are_used_from_the_next_attempt() {
    init_logs();
    let server = TestServer::start().await;
    let jid = server.register("alice", PASSWORD).await;
    let dns = dns((server.direct_tls_addr(), 0), (server.starttls_addr(), 5)).await;
    let dir = tempfile::tempdir().expect("tmp");

    let mut cfg = config(
        &server,
        &jid,
        server.starttls_addr(),
        TlsMode::DirectTls,
        dir.path(),
    );
    cfg.server = None;
    cfg.dns_servers = vec!["resolver.example".into()];
    assert!(matches!(
        jabberkit::Client::new(cfg.clone()),
        Err(jabberkit::Error::InvalidInput { .. })
    ));
    // The network the phone left: nothing answers there.
    cfg.dns_servers = vec!["127.0.0.1:9".into()];
    let mut alice = Account::new(cfg);
    alice.client.connect().expect("connect");
    alice
        .wait_for("a failed attempt", |e| {
            matches!(
                e,
                Event::ConnectionState(ConnectionState::Reconnecting { .. })
            )
        })
        .await;
    assert!(matches!(
        alice
            .client
            .set_dns_servers(vec!["::1".into(), "nope".into()]),
        Err(jabberkit::Error::InvalidInput { .. })
    ));
    alice
        .client
        .set_dns_servers(vec![dns.addr().to_string()])
        .expect("addresses");
    alice.client.network_available(true);
    alice.wait_online().await;
}
