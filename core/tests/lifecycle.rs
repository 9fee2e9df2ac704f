//! What happens around a connection's life: a dropped `Client` stops trying.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use jabberkit::{ConnectionState, Event};

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
