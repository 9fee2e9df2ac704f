//! What happens around a connection's life: a dropped `Client` stops
//! trying; `disconnect()` keeps the acks of what it pushed.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use jabberkit::{ConnectionState, DeliveryState, Event};

/// A server that accepts TCP and hangs up at once, counting attempts.
async fn hanging_up_server() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (addr, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_client_stops_reconnecting() {
    init_logs();
    for network_down in [false, true] {
        let (addr, attempts) = hanging_up_server().await;
        let dir = tempfile::tempdir().expect("tmp");
        let mut cfg = jabberkit::ClientConfig::new("me@example.test", PASSWORD, dir.path());
        cfg.server = Some(addr.to_string());
        cfg.min_retry_delay = Duration::from_secs(30);
        let mut acc = Account::new(cfg);
        acc.client.connect().expect("connect");
        acc.wait_for("reconnecting", |e| {
            matches!(
                e,
                Event::ConnectionState(ConnectionState::Reconnecting { .. })
            )
        })
        .await;
        if network_down {
            acc.client.network_available(false);
        }
        let before = attempts.load(Ordering::SeqCst);
        drop(acc);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = attempts.load(Ordering::SeqCst);
        assert!(
            after <= before,
            "network down: {network_down}: {} attempts after the client was dropped",
            after - before
        );
    }
}

/// A burst, then `disconnect()` at once: the server's acks still reach the
/// store before the stream closes, so nothing goes out again on the next
/// connect (before, the entries pushed last stayed unacked and were sent
/// a second time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_keeps_the_acks_of_what_it_pushed() {
    let server = jabberkit_testkit::server::TestServer::start().await;
    let mut p = pair(&server).await;
    online(&mut p.alice).await;
    let ids: Vec<String> = (0..30)
        .map(|i| {
            p.alice
                .client
                .send(&p.bob_jid, &format!("bye-{i}"))
                .expect("send")
        })
        .collect();
    p.alice.client.disconnect().await;
    let unacked: Vec<_> = ids
        .iter()
        .filter_map(|id| {
            let m = p.alice.client.message(id).expect("read").expect("stored");
            (m.state != DeliveryState::Acked).then_some((m.body, m.state))
        })
        .collect();
    assert!(unacked.is_empty(), "left unacked: {unacked:?}");
}
