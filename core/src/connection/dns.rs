//! DNS for the connector: both XEP-0368 SRV lookups, and the addresses of
//! each candidate, with hickory-resolver.
//!
//! The resolver asks the app's DNS servers when it names some
//! ([`ClientConfig::dns_servers`](crate::ClientConfig::dns_servers)), else
//! the system's configuration. Where that cannot be read (Android, where
//! hickory would need a JNI context we do not have, or a machine without
//! `/etc/resolv.conf`), there is no SRV lookup. Whenever no SRV record is
//! found, the domain itself is tried through the OS resolver, which works
//! everywhere (and on a network the app's DNS servers do not belong to).

use std::io;
use std::net::{IpAddr, SocketAddr};

use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;
use tokio::net::TcpStream;

use super::candidates::{self, Candidate, SrvRecord};
use super::eyeballs;
use crate::config::TlsMode;
use crate::error::Error;

/// The DNS servers to ask; none means the system's configuration.
#[derive(Clone, Debug, Default)]
pub(crate) struct DnsServers(Vec<SocketAddr>);

impl DnsServers {
    /// Reads `ip` or `ip:port` entries (`[v6]:port` for IPv6 with a port).
    pub(crate) fn parse(entries: &[String]) -> Result<Self, Error> {
        let parse = |entry: &String| {
            let entry = entry.trim();
            entry
                .parse::<SocketAddr>()
                .ok()
                .or_else(|| Some(SocketAddr::new(entry.parse::<IpAddr>().ok()?, 53)))
                .ok_or_else(|| Error::invalid(format!("DNS server {entry:?} is not an IP address")))
        };
        entries
            .iter()
            .map(parse)
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// A fresh resolver (no cache kept across attempts: a new network may
    /// see other records), or why there is none.
    fn resolver(&self) -> Result<TokioResolver, String> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = if self.0.is_empty() {
            system(provider)?
        } else {
            let servers = self.0.iter().map(|addr| {
                let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                for connection in &mut server.connections {
                    connection.port = addr.port();
                }
                server
            });
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(servers.collect()),
                provider,
            )
        };
        builder.options_mut().ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        builder.build().map_err(|e| e.to_string())
    }
}

type Builder = hickory_resolver::ResolverBuilder<TokioRuntimeProvider>;

#[cfg(not(target_os = "android"))]
fn system(provider: TokioRuntimeProvider) -> Result<Builder, String> {
    TokioResolver::builder(provider).map_err(|e| e.to_string())
}

/// Without an app-initialised JNI context, hickory's Android reader panics.
#[cfg(target_os = "android")]
fn system(_: TokioRuntimeProvider) -> Result<Builder, String> {
    Err("the system's DNS servers are not readable on Android (set dns_servers)".into())
}

/// How candidates' host names become addresses.
pub(super) enum Lookup {
    /// getaddrinfo: a fixed server, or the domain itself (no SRV record,
    /// or no usable DNS configuration).
    Os,
    /// The resolver that found the SRV records, for their targets.
    Dns(Box<TokioResolver>),
}

/// Every candidate for `domain`, best first, and how to resolve them.
pub(super) async fn candidates(
    domain: &str,
    servers: &DnsServers,
    preferred: TlsMode,
) -> (Vec<Candidate>, Lookup) {
    let domain_only = || candidates::order(domain, &[], &[], preferred);
    if domain.parse::<IpAddr>().is_ok() {
        return (domain_only(), Lookup::Os);
    }
    let resolver = match servers.resolver() {
        Ok(resolver) => resolver,
        Err(reason) => {
            tracing::debug!("no SRV lookup ({reason}); trying {domain} itself");
            return (domain_only(), Lookup::Os);
        }
    };
    let (xmpps, xmpp) = (
        format!("_xmpps-client._tcp.{domain}."),
        format!("_xmpp-client._tcp.{domain}."),
    );
    let (direct, starttls) = tokio::join!(srv(&resolver, &xmpps), srv(&resolver, &xmpp));
    if direct.is_empty() && starttls.is_empty() {
        // Nothing published, or the servers did not answer (the app's may
        // belong to a network we left): the domain, as the OS resolves it.
        return (domain_only(), Lookup::Os);
    }
    let list = candidates::order(domain, &direct, &starttls, preferred);
    (list, Lookup::Dns(Box::new(resolver)))
}

/// One SRV lookup's records; none when there are none or it failed (the
/// other lookup, or the domain itself, may still work).
async fn srv(resolver: &TokioResolver, name: &str) -> Vec<SrvRecord> {
    let lookup = match resolver.srv_lookup(name).await {
        Ok(lookup) => lookup,
        Err(e) => {
            if !e.is_no_records_found() {
                tracing::debug!("SRV lookup of {name} failed: {e}");
            }
            return Vec::new();
        }
    };
    lookup
        .answers()
        .iter()
        .filter_map(|record| match &record.data {
            RData::SRV(srv) => Some(SrvRecord {
                priority: srv.priority,
                weight: srv.weight,
                port: srv.port,
                target: srv.target.to_ascii().trim_end_matches('.').to_owned(),
            }),
            _ => None,
        })
        .collect()
}

impl Lookup {
    /// A TCP connection to one of `host`'s addresses (Happy Eyeballs:
    /// see [`eyeballs`]).
    pub(super) async fn connect(&self, host: &str, port: u16) -> io::Result<TcpStream> {
        let addrs: Vec<SocketAddr> = match (self, host.parse::<IpAddr>()) {
            (_, Ok(ip)) => vec![SocketAddr::new(ip, port)],
            (Self::Os, Err(_)) => tokio::net::lookup_host((host, port)).await?.collect(),
            (Self::Dns(resolver), Err(_)) => resolver
                .lookup_ip(format!("{host}."))
                .await
                .map_err(|e| io::Error::new(io::ErrorKind::NotFound, format!("{host}: {e}")))?
                .iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect(),
        };
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{host} has no address"),
            ));
        }
        eyeballs::race(addrs, eyeballs::STAGGER, TcpStream::connect).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dns_servers_with_and_without_port() {
        let servers = DnsServers::parse(&[
            "192.0.2.1".into(),
            "192.0.2.2:5353".into(),
            "2001:db8::1".into(),
            "[2001:db8::2]:5353".into(),
        ])
        .expect("valid");
        let want: Vec<SocketAddr> = [
            "192.0.2.1:53",
            "192.0.2.2:5353",
            "[2001:db8::1]:53",
            "[2001:db8::2]:5353",
        ]
        .iter()
        .map(|s| s.parse().expect("addr"))
        .collect();
        assert_eq!(servers.0, want);
    }

    #[test]
    fn refuses_dns_servers_that_are_not_addresses() {
        for bad in ["dns.example", "192.0.2.1:99999", "", "1.2.3.4:"] {
            assert!(
                matches!(
                    DnsServers::parse(&[bad.into()]),
                    Err(Error::InvalidInput { .. })
                ),
                "{bad:?} accepted"
            );
        }
    }
}
