//! A throwaway DNS server (dnsmasq, installed by `scripts/prosody install`)
//! serving the SRV and address records a test gives it, so the client's
//! real SRV lookups (XEP-0368) run against real DNS answers.
//!
//! It answers only from those records: every name under `.test` without
//! one gets an immediate empty answer (no upstream server, no timeout).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::process::{Child, Command};

/// One record to serve.
#[derive(Clone, Debug)]
pub enum Record {
    /// An SRV record; `target: None` is the `.` target ("no such service").
    Srv {
        name: String,
        target: Option<String>,
        port: u16,
        priority: u16,
        weight: u16,
    },
    /// An A or AAAA record.
    Host { name: String, ip: IpAddr },
}

impl Record {
    /// `name` (e.g. `_xmpps-client._tcp.example.test`) served by
    /// `target:port` at `priority`, weight 0.
    pub fn srv(name: &str, target: &str, port: u16, priority: u16) -> Record {
        Record::Srv {
            name: name.into(),
            target: Some(target.into()),
            port,
            priority,
            weight: 0,
        }
    }

    /// `name` explicitly not available (the `.` target).
    pub fn no_service(name: &str) -> Record {
        Record::Srv {
            name: name.into(),
            target: None,
            port: 0,
            priority: 0,
            weight: 0,
        }
    }

    /// `name` at `ip`.
    pub fn host(name: &str, ip: IpAddr) -> Record {
        Record::Host {
            name: name.into(),
            ip,
        }
    }

    fn arg(&self) -> String {
        match self {
            Record::Srv {
                name, target: None, ..
            } => format!("--srv-host={name}"),
            Record::Srv {
                name,
                target: Some(target),
                port,
                priority,
                weight,
            } => format!("--srv-host={name},{target},{port},{priority},{weight}"),
            Record::Host { name, ip } => format!("--host-record={name},{ip}"),
        }
    }
}

/// A running dnsmasq on a free loopback port; killed when dropped.
pub struct TestDns {
    addr: SocketAddr,
    _child: Child,
    dir: tempfile::TempDir,
}

impl TestDns {
    /// Starts serving `records` and waits until it answers.
    ///
    /// # Panics
    ///
    /// If dnsmasq is missing (run `scripts/prosody install`) or never
    /// answers.
    pub async fn start(records: &[Record]) -> TestDns {
        let dir = tempfile::tempdir().expect("tempdir");
        let binary = dnsmasq();
        // The free port is found by binding and releasing it: another
        // process may take it in between, so a few tries.
        for _ in 0..5 {
            let port = free_port().await;
            let mut child = Command::new(&binary)
                .args(args(port, &dir.path().join("dnsmasq.log"), records))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            if answers(addr, &mut child).await {
                return TestDns {
                    addr,
                    _child: child,
                    dir,
                };
            }
        }
        panic!("dnsmasq never answered: {}", log(dir.path()));
    }

    /// Where to send queries: pass it as `ClientConfig::dns_servers`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What dnsmasq logged (every query), for a failing test's message.
    pub fn log(&self) -> String {
        log(self.dir.path())
    }
}

fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("dnsmasq.log")).unwrap_or_default()
}

fn dnsmasq() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("dnsmasq"))
        .find(|p| p.is_file())
        .expect("dnsmasq not found: run scripts/prosody install")
}

fn args(port: u16, log: &Path, records: &[Record]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--keep-in-foreground",
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        "--conf-file=/dev/null",
        "--pid-file=",
        "--cache-size=0",
        "--local=/test/",
        "--log-queries",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    args.push(format!("--port={port}"));
    args.push(format!("--log-facility={}", log.display()));
    args.extend(records.iter().map(Record::arg));
    args
}

async fn free_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind UDP");
    socket.local_addr().expect("local addr").port()
}

/// Whether dnsmasq at `addr` answers a query within a few seconds (false
/// at once if it exited, e.g. because its port was taken).
async fn answers(addr: SocketAddr, child: &mut Child) -> bool {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind UDP");
    // A query for `example.test` A: header (id, RD, one question), name, type, class.
    let mut query = vec![0x4a, 0x4b, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in ["example", "test"] {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    let mut buf = [0u8; 512];
    for _ in 0..50 {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        let _ = socket.send_to(&query, addr).await;
        let reply = tokio::time::timeout(Duration::from_millis(100), socket.recv(&mut buf));
        if let Ok(Ok(n)) = reply.await {
            if n >= 2 && buf[..2] == query[..2] {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_become_dnsmasq_options() {
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        assert_eq!(
            Record::srv("_xmpps-client._tcp.example.test", "x.example.test", 5223, 5).arg(),
            "--srv-host=_xmpps-client._tcp.example.test,x.example.test,5223,5,0"
        );
        assert_eq!(
            Record::no_service("_xmpp-client._tcp.example.test").arg(),
            "--srv-host=_xmpp-client._tcp.example.test"
        );
        assert_eq!(
            Record::host("x.example.test", ip).arg(),
            "--host-record=x.example.test,127.0.0.1"
        );
    }

    #[tokio::test]
    async fn answers_once_started() {
        let dns = TestDns::start(&[]).await;
        assert!(dns.log().contains("query[A] example.test"), "{}", dns.log());
    }
}
