//! Our connector: TCP (a fixed address, or the candidates of XEP-0368's
//! SRV records, see [`super::candidates`]), then TLS with a rustls
//! configuration we build ourselves.
//!
//! tokio-xmpp's own connectors build their rustls config internally, with no
//! hook for extra trust anchors or pinning, so we do the TLS part here and
//! hand tokio-xmpp an encrypted, stream-initiated transport. TLS is always
//! required: a STARTTLS server that does not offer TLS is refused.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::BufStream;
use tokio::sync::watch;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{
    self, pki_types::pem::PemObject, pki_types::CertificateDer, pki_types::ServerName,
};
use tokio_xmpp::connect::ServerConnectorError;
use tokio_xmpp::jid::Jid;
use tokio_xmpp::parsers::starttls;
use tokio_xmpp::xmlstream::{
    initiate_stream, ReadError, StreamHeader, Timeouts, XmppStreamElement,
};
use tokio_xmpp::Error as XmppError;

use super::binding::TlsBinding;
use super::candidates::Candidate;
use super::csi::{Csi, CsiStream};
use super::dns::{self, DnsServers, Lookup};
use super::socket::Socket;
use crate::config::{ClientConfig, TlsMode};
use crate::error::Error;

/// Why TLS could not be set up. Always fatal: retrying will meet the same
/// certificate, and credentials must not go over an unverified link.
#[derive(Debug)]
pub(crate) struct TlsSetupError(pub(crate) String);

impl fmt::Display for TlsSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for TlsSetupError {}
impl ServerConnectorError for TlsSetupError {}

#[derive(Clone)]
pub(crate) struct Connector {
    target: Target,
    /// The app's mode: a fixed server's, and the preferred one among SRV
    /// candidates of equal priority.
    mode: TlsMode,
    /// Direct TLS (with ALPN `xmpp-client`).
    direct: tokio_rustls::TlsConnector,
    /// TLS after STARTTLS.
    starttls: tokio_rustls::TlsConnector,
    /// How long a candidate that is not the last may take to be secured:
    /// a third of the attempt's budget, so a blackholed one (a firewall
    /// dropping port 5223) leaves time for the next.
    candidate_budget: Duration,
    /// Wraps each connection so it can carry client state indications.
    pub(super) csi: Arc<Csi>,
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Connector({:?}, {:?})", self.target, self.mode)
    }
}

impl Connector {
    /// `dns`: the app's DNS servers for SRV lookups, read at each attempt.
    pub(crate) fn new(
        config: &ClientConfig,
        jid: &Jid,
        dns: watch::Receiver<DnsServers>,
    ) -> Result<Self, Error> {
        let target = match &config.server {
            Some(addr) => {
                let (host, port) = addr
                    .rsplit_once(':')
                    .and_then(|(h, p)| {
                        Some((
                            h.trim_matches(|c| c == '[' || c == ']'),
                            p.parse::<u16>().ok()?,
                        ))
                    })
                    .ok_or_else(|| {
                        Error::invalid(format!("server address {addr:?} is not host:port"))
                    })?;
                Target::Fixed {
                    host: host.to_owned(),
                    port,
                }
            }
            None => Target::Srv {
                domain: jid.domain().as_str().to_owned(),
                servers: dns,
            },
        };
        let tls = |mode: TlsMode| -> Result<tokio_rustls::TlsConnector, Error> {
            let config = tls_config(config.extra_ca_pem.as_deref(), mode)?;
            Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
        };
        Ok(Self {
            target,
            mode: config.tls,
            direct: tls(TlsMode::DirectTls)?,
            starttls: tls(TlsMode::StartTls)?,
            candidate_budget: config.connect_timeout / 3,
            csi: Arc::new(Csi::default()),
        })
    }

    /// TLS over `tcp`, verified against the JID's domain (never an SRV
    /// target: DNS is not authenticated).
    async fn handshake(
        &self,
        tcp: Socket,
        domain: &str,
        mode: TlsMode,
    ) -> Result<(TlsStream<Socket>, TlsBinding), XmppError> {
        let name = ServerName::try_from(domain.to_owned())
            .map_err(|e| TlsSetupError(format!("{domain:?} is not a valid TLS name: {e}")))?;
        let connector = match mode {
            TlsMode::DirectTls => &self.direct,
            TlsMode::StartTls => &self.starttls,
        };
        let tls = connector.connect(name, tcp).await.map_err(|e| {
            match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                // A verdict on the server's certificate or TLS versions is
                // fatal: retrying meets the same server.
                Some(tls_error) if is_verdict(tls_error) => {
                    XmppError::from(TlsSetupError(tls_error.to_string()))
                }
                // Anything else is a bad link, retried: a captive portal
                // answering HTTP, a middlebox cutting the handshake.
                Some(tls_error) => XmppError::Io(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("TLS handshake: {tls_error}"),
                )),
                None => XmppError::Io(e),
            }
        })?;
        let binding = TlsBinding::of(tls.get_ref().1);
        Ok((tls, binding))
    }
}

/// Whether a TLS error is the server's certificate or TLS versions being
/// refused (fatal), rather than a broken or intercepted link.
fn is_verdict(e: &rustls::Error) -> bool {
    matches!(
        e,
        rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::UnsupportedNameType
            | rustls::Error::InvalidCertRevocationList(_)
            | rustls::Error::PeerIncompatible(_)
    )
}

/// The stream header. `from` names the account, so it goes only inside
/// TLS (servers advertise SASL2 only when they know who is asking); the
/// plaintext header before STARTTLS would tell any observer who connects.
pub(super) fn header(jid: &Jid, encrypted: bool) -> StreamHeader<'_> {
    StreamHeader {
        to: Some(Cow::Borrowed(jid.domain().as_str())),
        from: encrypted.then(|| Cow::Owned(jid.to_bare().to_string())),
        id: None,
    }
}

/// Where the server is.
#[derive(Clone, Debug)]
enum Target {
    /// The app named it: resolved with the OS resolver (getaddrinfo), which
    /// works everywhere, Android included, and needs no DNS for IP literals.
    Fixed { host: String, port: u16 },
    /// Looked up from the JID's domain: both SRV services (hickory-resolver).
    Srv {
        domain: String,
        servers: watch::Receiver<DnsServers>,
    },
}

impl Target {
    /// Where to try, in order, and how to resolve those names.
    async fn candidates(&self, mode: TlsMode) -> (Vec<Candidate>, Lookup) {
        match self {
            Self::Fixed { host, port } => {
                let only = Candidate {
                    host: host.clone(),
                    port: *port,
                    mode,
                };
                (vec![only], Lookup::Os)
            }
            Self::Srv { domain, servers } => {
                // The network's servers now: the app may have moved.
                let servers = servers.borrow().clone();
                dns::candidates(domain, &servers, mode).await
            }
        }
    }
}

/// Whether a failed attempt must stop the whole login rather than move on
/// to the next candidate: a certificate or TLS version verdict (or a
/// server refusing TLS). Trying another candidate then would let whoever
/// answered choose where we go.
pub(super) fn is_final(e: &XmppError) -> bool {
    matches!(e, XmppError::Connection(inner)
        if (&**inner as &(dyn std::error::Error + 'static)).is::<TlsSetupError>())
}

/// The transport a login runs on: TLS, with its client-state wrapper.
pub(super) type Secured = CsiStream<BufStream<TlsStream<Socket>>>;

impl Connector {
    /// TCP and TLS (direct, or after STARTTLS) to the first candidate
    /// that works: a verified, encrypted transport whose XML stream is not
    /// started yet, and its channel binding data.
    pub(super) async fn secure(
        &self,
        jid: &Jid,
        ns: &'static str,
        timeouts: Timeouts,
    ) -> Result<(Secured, TlsBinding), XmppError> {
        let (candidates, lookup) = self.target.candidates(self.mode).await;
        let mut last = None;
        for (i, c) in candidates.iter().enumerate() {
            let attempt = self.secure_one(c, &lookup, jid, ns, timeouts);
            // The last candidate has what is left of the caller's timeout.
            let result = if i + 1 == candidates.len() {
                attempt.await
            } else {
                tokio::time::timeout(self.candidate_budget, attempt)
                    .await
                    .unwrap_or_else(|_| {
                        let reason = format!("no answer within {:?}", self.candidate_budget);
                        Err(std::io::Error::new(std::io::ErrorKind::TimedOut, reason).into())
                    })
            };
            match result {
                Ok(secured) => return Ok(secured),
                Err(e) if is_final(&e) => return Err(e),
                Err(e) => {
                    tracing::debug!(
                        "{}:{} ({:?}) failed, trying the next candidate: {e}",
                        c.host,
                        c.port,
                        c.mode
                    );
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} publishes no XMPP service", jid.domain()),
            )
            .into()
        }))
    }

    async fn secure_one(
        &self,
        candidate: &Candidate,
        lookup: &Lookup,
        jid: &Jid,
        ns: &'static str,
        timeouts: Timeouts,
    ) -> Result<(Secured, TlsBinding), XmppError> {
        let tcp = Socket(lookup.connect(&candidate.host, candidate.port).await?);
        let tcp = match candidate.mode {
            TlsMode::DirectTls => tcp,
            TlsMode::StartTls => negotiate_starttls(tcp, jid, ns, timeouts).await?,
        };
        let (tls, binding) = self
            .handshake(tcp, jid.domain().as_str(), candidate.mode)
            .await?;
        Ok((self.csi.wrap(BufStream::new(tls)), binding))
    }
}

/// The plaintext stream up to `<proceed/>`: the socket, ready for TLS.
async fn negotiate_starttls(
    tcp: Socket,
    jid: &Jid,
    ns: &'static str,
    timeouts: Timeouts,
) -> Result<Socket, XmppError> {
    let stream = initiate_stream(BufStream::new(tcp), ns, header(jid, false), timeouts).await?;
    let (features, mut stream) = stream.recv_features::<XmppStreamElement>().await?;
    if !features.can_starttls() {
        return Err(TlsSetupError(
            "the server does not offer STARTTLS; refusing to continue in plaintext".into(),
        )
        .into());
    }
    stream
        .send(&XmppStreamElement::Starttls(starttls::Nonza::Request(
            starttls::Request,
        )))
        .await?;
    loop {
        match stream.next().await {
            Some(Ok(XmppStreamElement::Starttls(starttls::Nonza::Proceed(_)))) => break,
            Some(Ok(other)) => {
                return Err(
                    TlsSetupError(format!("unexpected answer to <starttls/>: {other:?}")).into(),
                )
            }
            Some(Err(ReadError::SoftTimeout)) => continue,
            Some(Err(ReadError::HardError(e))) => return Err(e.into()),
            Some(Err(ReadError::ParseError(e))) => {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e).into())
            }
            None | Some(Err(ReadError::StreamFooterReceived)) => {
                return Err(XmppError::Disconnected)
            }
        }
    }
    Ok(stream.into_inner().into_inner())
}

/// For file transfers over HTTPS: the same roots as the XMPP stream
/// (system plus the app's CA), ALPN `http/1.1`.
pub(crate) fn https_config(extra_ca_pem: Option<&str>) -> Result<rustls::ClientConfig, Error> {
    let mut config = tls_config(extra_ca_pem, TlsMode::StartTls)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// System roots plus the app's extra CAs; on direct TLS, ALPN
/// `xmpp-client` (XEP-0368), so a server sharing port 443 with HTTPS can
/// route us.
fn tls_config(extra_ca_pem: Option<&str>, mode: TlsMode) -> Result<rustls::ClientConfig, Error> {
    let mut roots = rustls::RootCertStore::empty();
    #[cfg(any(target_os = "android", target_os = "ios"))]
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    #[cfg(not(any(target_os = "android", target_os = "ios")))]
    {
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            tracing::debug!("skipping a system root certificate: {e}");
        }
        roots.add_parsable_certificates(native.certs);
    }
    if let Some(pem) = extra_ca_pem {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert =
                cert.map_err(|e| Error::invalid(format!("extra CA PEM is unreadable: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| Error::invalid(format!("extra CA certificate rejected: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(Error::invalid("extra CA PEM holds no certificate"));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Other {
            reason: format!("TLS setup: {e}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    if mode == TlsMode::DirectTls {
        config.alpn_protocols = vec![b"xmpp-client".to_vec()];
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_garbage_ca_pem() {
        assert!(matches!(
            tls_config(Some("not a pem"), TlsMode::StartTls),
            Err(Error::InvalidInput { .. })
        ));
        let bad = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            tls_config(Some(bad), TlsMode::StartTls),
            Err(Error::InvalidInput { .. })
        ));
    }

    #[test]
    fn rejects_server_without_port() {
        let jid: Jid = "a@example.test".parse().expect("jid");
        let mut cfg = ClientConfig::new("a@example.test", "pw", "/tmp/x");
        cfg.server = Some("localhost".into());
        let dns = || watch::channel(DnsServers::default()).1;
        assert!(matches!(
            Connector::new(&cfg, &jid, dns()),
            Err(Error::InvalidInput { .. })
        ));
        cfg.server = Some("127.0.0.1:5222".into());
        assert!(Connector::new(&cfg, &jid, dns()).is_ok());
    }
}
