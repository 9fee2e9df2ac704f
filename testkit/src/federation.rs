//! Two test servers federated with each other (server-to-server, RFC 6120
//! §4 with TLS and certificates checked against the one test CA), on
//! loopback addresses of their own: `example.test` on 127.0.0.2 and
//! `other.test` on 127.0.0.3, each with its group chat service
//! (`conference.`). The domains have no DNS: each server's config maps the
//! other's domains to its address (Prosody module
//! `scripts/lib/prosody-modules/mod_test_s2s_map.lua`). Prosody only.

use std::net::{Ipv4Addr, SocketAddr};

use crate::proxy::FaultProxy;
pub use crate::server::S2s;
use crate::server::{ServerKind, ServerOptions, TestServer};

/// The first server: the domain every other test uses, on its own address.
pub const HOME: (&str, Ipv4Addr) = ("example.test", Ipv4Addr::new(127, 0, 0, 2));
/// The second server.
pub const OTHER: (&str, Ipv4Addr) = ("other.test", Ipv4Addr::new(127, 0, 0, 3));

/// Starts [`HOME`] and [`OTHER`], each reaching the other. Panics if
/// either cannot start.
pub async fn start_pair() -> (TestServer, TestServer) {
    let [home_s2s, other_s2s] = s2s_addrs();
    start(home_s2s, other_s2s, other_s2s, home_s2s).await
}

/// [`start_pair`], with each server reaching the other through a
/// [`FaultProxy`], so a test can cut the link between them: the first
/// carries what [`HOME`] opens towards [`OTHER`], the second the reverse.
pub async fn start_pair_with_proxies() -> (TestServer, TestServer, [FaultProxy; 2]) {
    let [home_s2s, other_s2s] = s2s_addrs();
    let proxies = [
        FaultProxy::start(other_s2s).await,
        FaultProxy::start(home_s2s).await,
    ];
    let (home, other) = start(home_s2s, other_s2s, proxies[0].addr(), proxies[1].addr()).await;
    (home, other, proxies)
}

fn s2s_addrs() -> [SocketAddr; 2] {
    [HOME, OTHER].map(|(_, ip)| SocketAddr::from((ip, free_port(ip))))
}

/// The two servers on `home_s2s` and `other_s2s`, each reaching the other
/// at the address given (the other's, or a proxy's).
async fn start(
    home_s2s: SocketAddr,
    other_s2s: SocketAddr,
    home_to_other: SocketAddr,
    other_to_home: SocketAddr,
) -> (TestServer, TestServer) {
    let options = |(domain, ip): (&str, Ipv4Addr), port, peer: (&str, SocketAddr), ca_from| {
        ServerOptions {
            kind: ServerKind::Prosody,
            s2s: Some(S2s {
                domain: domain.to_owned(),
                ip,
                port,
                // The peer's domain and its group chat service.
                peers: vec![
                    (peer.0.to_owned(), peer.1),
                    (format!("conference.{}", peer.0), peer.1),
                ],
                ca_from,
            }),
            ..ServerOptions::default()
        }
    };
    let home = TestServer::start_with(options(
        HOME,
        home_s2s.port(),
        (OTHER.0, home_to_other),
        None,
    ))
    .await;
    let other = TestServer::start_with(options(
        OTHER,
        other_s2s.port(),
        (HOME.0, other_to_home),
        Some(home.dir().to_path_buf()),
    ))
    .await;
    (home, other)
}

/// A port nothing listens on at `ip` now (the kernel's pick).
fn free_port(ip: Ipv4Addr) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port on {ip}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_become_script_arguments() {
        let s2s = S2s {
            domain: "other.test".into(),
            ip: OTHER.1,
            port: 15270,
            peers: vec![(
                "example.test".into(),
                "127.0.0.2:15269".parse().expect("addr"),
            )],
            ca_from: Some("/tmp/home".into()),
        };
        assert_eq!(
            s2s.args().join(" "),
            "--domain other.test --ip 127.0.0.3 --s2s-port 15270 \
             --peer example.test=127.0.0.2:15269 --ca-from /tmp/home"
        );
    }
}
