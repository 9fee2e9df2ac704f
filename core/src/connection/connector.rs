//! Our connector: TCP (SRV or a fixed address), then TLS with a rustls
//! configuration we build ourselves.
//!
//! tokio-xmpp's own connectors build their rustls config internally, with no
//! hook for extra trust anchors or pinning, so we do the TLS part here and
//! hand tokio-xmpp an encrypted, stream-initiated transport. TLS is always
//! required: a STARTTLS server that does not offer TLS is refused.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use tokio::io::BufStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{
    self, pki_types::pem::PemObject, pki_types::CertificateDer, pki_types::ServerName,
};
use tokio_xmpp::connect::{DnsConfig, ServerConnectorError};
use tokio_xmpp::jid::Jid;
use tokio_xmpp::parsers::starttls;
use tokio_xmpp::xmlstream::{
    initiate_stream, ReadError, StreamHeader, Timeouts, XmppStreamElement,
};
use tokio_xmpp::Error as XmppError;

use super::binding::TlsBinding;
use super::csi::{Csi, CsiStream};
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
    mode: TlsMode,
    tls: tokio_rustls::TlsConnector,
    /// Wraps each connection so it can carry client state indications.
    pub(super) csi: Arc<Csi>,
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Connector({:?}, {:?})", self.target, self.mode)
    }
}

impl Connector {
    pub(crate) fn new(config: &ClientConfig, jid: &Jid) -> Result<Self, Error> {
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
            None => {
                let domain = jid.domain().as_str();
                Target::Srv(Box::new(match config.tls {
                    TlsMode::StartTls => DnsConfig::srv(domain, "_xmpp-client._tcp", 5222),
                    TlsMode::DirectTls => DnsConfig::srv(domain, "_xmpps-client._tcp", 5223),
                }))
            }
        };
        Ok(Self {
            target,
            mode: config.tls,
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls_config(
                config.extra_ca_pem.as_deref(),
                config.tls,
            )?)),
            csi: Arc::new(Csi::default()),
        })
    }

    async fn handshake(
        &self,
        tcp: Socket,
        domain: &str,
    ) -> Result<(TlsStream<Socket>, TlsBinding), XmppError> {
        let name = ServerName::try_from(domain.to_owned())
            .map_err(|e| TlsSetupError(format!("{domain:?} is not a valid TLS name: {e}")))?;
        let tls = self.tls.connect(name, tcp).await.map_err(|e| {
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
    /// Looked up from the JID's domain with SRV records (hickory-resolver).
    Srv(Box<DnsConfig>),
}

impl Target {
    async fn connect(&self) -> Result<Socket, XmppError> {
        match self {
            Self::Srv(dns) => dns.resolve().await.map(Socket),
            Self::Fixed { host, port } => {
                let mut last = None;
                for addr in tokio::net::lookup_host((host.as_str(), *port)).await? {
                    match tokio::net::TcpStream::connect(addr).await {
                        Ok(tcp) => return Ok(Socket(tcp)),
                        Err(e) => last = Some(e),
                    }
                }
                Err(last
                    .unwrap_or_else(|| {
                        std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            format!("{host} has no address"),
                        )
                    })
                    .into())
            }
        }
    }
}

/// The transport a login runs on: TLS, with its client-state wrapper.
pub(super) type Secured = CsiStream<BufStream<TlsStream<Socket>>>;

impl Connector {
    /// TCP and TLS (direct, or after STARTTLS): a verified, encrypted
    /// transport whose XML stream is not started yet, and its channel
    /// binding data.
    pub(super) async fn secure(
        &self,
        jid: &Jid,
        ns: &'static str,
        timeouts: Timeouts,
    ) -> Result<(Secured, TlsBinding), XmppError> {
        let domain = jid.domain().as_str();
        let tcp = self.target.connect().await?;
        let tcp = match self.mode {
            TlsMode::DirectTls => tcp,
            TlsMode::StartTls => {
                let stream =
                    initiate_stream(BufStream::new(tcp), ns, header(jid, false), timeouts).await?;
                let (features, mut stream) = stream.recv_features::<XmppStreamElement>().await?;
                if !features.can_starttls() {
                    return Err(TlsSetupError(
                        "the server does not offer STARTTLS; refusing to continue in plaintext"
                            .into(),
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
                            return Err(TlsSetupError(format!(
                                "unexpected answer to <starttls/>: {other:?}"
                            ))
                            .into())
                        }
                        Some(Err(ReadError::SoftTimeout)) => continue,
                        Some(Err(ReadError::HardError(e))) => return Err(e.into()),
                        Some(Err(ReadError::ParseError(e))) => {
                            return Err(
                                std::io::Error::new(std::io::ErrorKind::InvalidData, e).into()
                            )
                        }
                        None | Some(Err(ReadError::StreamFooterReceived)) => {
                            return Err(XmppError::Disconnected)
                        }
                    }
                }
                stream.into_inner().into_inner()
            }
        };
        let (tls, binding) = self.handshake(tcp, domain).await?;
        Ok((self.csi.wrap(BufStream::new(tls)), binding))
    }
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
        assert!(matches!(
            Connector::new(&cfg, &jid),
            Err(Error::InvalidInput { .. })
        ));
        cfg.server = Some("127.0.0.1:5222".into());
        assert!(Connector::new(&cfg, &jid).is_ok());
    }
}
