//! A bare XMPP client stream, for tests of the test servers themselves.
//!
//! The testkit's own tests check what the client library relies on (file
//! upload slots, push notifications) without that library: [`RawClient`]
//! logs in over direct TLS with SASL PLAIN (trusting the test CA), binds a
//! resource, then sends and reads XML as text. No parser: the helpers
//! [`element`] and [`attr`] find what a test looks for in what came back.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{crypto, ClientConfig, RootCertStore};

use crate::server::TestServer;

/// How long [`RawClient::read_until`] waits for the server.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A client stream over direct TLS; panics on anything unexpected.
pub struct RawClient {
    tls: TlsStream<TcpStream>,
    /// The full JID bound by [`login`](Self::login), empty before.
    jid: String,
}

impl RawClient {
    /// Opens a TLS connection to the server's direct TLS port, trusting the
    /// test CA. Nothing is sent yet.
    pub async fn connect(server: &TestServer) -> RawClient {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(server.ca_pem().as_bytes()) {
            roots
                .add(cert.expect("test CA is PEM"))
                .expect("test CA is a trust anchor");
        }
        let config =
            ClientConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("ring supports the default TLS versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
        let name = ServerName::try_from(server.domain().to_string()).expect("a DNS name");
        let tcp = TcpStream::connect(server.direct_tls_addr())
            .await
            .expect("connect to the direct TLS port");
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .expect("TLS with the test CA");
        RawClient {
            tls,
            jid: String::new(),
        }
    }

    /// Connects, logs in as `user` with SASL PLAIN and binds a resource
    /// (RFC 6120, no SASL2): a session ready for stanzas.
    pub async fn login(server: &TestServer, user: &str, password: &str) -> RawClient {
        let domain = server.domain();
        let header = format!(
            "<?xml version='1.0'?><stream:stream to='{domain}' version='1.0' \
             xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
        );
        let mut xmpp = RawClient::connect(server).await;
        xmpp.send(&header).await;
        xmpp.read_until(|got| got.contains("</stream:features>"))
            .await;
        let plain = base64(format!("\0{user}\0{password}").as_bytes());
        xmpp.send(&format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{plain}</auth>"
        ))
        .await;
        let auth = xmpp
            .read_until(|got| got.contains("<success") || got.contains("<failure"))
            .await;
        assert!(auth.contains("<success"), "login refused: {auth}");
        xmpp.send(&header).await;
        xmpp.read_until(|got| got.contains("</stream:features>"))
            .await;
        xmpp.send("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
            .await;
        let bound = xmpp.read_until(|got| got.contains("</iq>")).await;
        let jid = element(&bound, "jid")
            .and_then(|jid| Some(unescape(&jid[jid.find('>')? + 1..jid.find("</jid>")?])))
            .unwrap_or_else(|| panic!("bind failed: {bound}"));
        xmpp.jid = jid;
        xmpp
    }

    /// The full JID bound at [`login`](Self::login).
    pub fn jid(&self) -> &str {
        &self.jid
    }

    /// Sends `xml` as is.
    pub async fn send(&mut self, xml: &str) {
        self.tls.write_all(xml.as_bytes()).await.expect("send");
    }

    /// Reads until what has come so far satisfies `done`, and returns it
    /// (all of it: what came in the same read after the match too). Panics
    /// after 10 s without an answer, or if the server closes the stream.
    pub async fn read_until(&mut self, done: impl Fn(&str) -> bool) -> String {
        let mut got = String::new();
        let mut buf = vec![0u8; 16 * 1024];
        while !done(&got) {
            let n = tokio::time::timeout(READ_TIMEOUT, self.tls.read(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("no answer within {READ_TIMEOUT:?} after: {got}"))
                .expect("read");
            assert!(n > 0, "server closed the stream: {got}");
            got.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        got
    }

    /// Sends `iq` (which must carry `id='ID'`) and returns the server's
    /// answer (that `<iq>` element), panicking unless it is a result.
    pub async fn iq_result(&mut self, id: &str, iq: &str) -> String {
        self.send(iq).await;
        let got = self.read_until(|got| find_iq(got, id).is_some()).await;
        let reply = find_iq(&got, id).expect("read until found");
        assert_eq!(
            attr(reply, "type").as_deref(),
            Some("result"),
            "iq {id} failed: {reply}"
        );
        reply.to_string()
    }

    /// Closes the stream cleanly (`</stream:stream>`) and waits for the
    /// server to close its side: the session is gone, as when a client
    /// logs out (not hibernated; drop the client for an abrupt loss).
    pub async fn close(mut self) {
        self.send("</stream:stream>").await;
        let mut buf = vec![0u8; 16 * 1024];
        let mut got = String::new();
        loop {
            match tokio::time::timeout(READ_TIMEOUT, self.tls.read(&mut buf)).await {
                Err(_) => panic!("the server did not close the stream: {got}"),
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => {
                    got.push_str(&String::from_utf8_lossy(&buf[..n]));
                    if got.contains("</stream:stream>") {
                        break;
                    }
                }
            }
        }
        let _ = self.tls.shutdown().await;
    }
}

/// The complete `<iq id='ID'>` element in `xml`, if it has come.
fn find_iq<'a>(xml: &'a str, id: &str) -> Option<&'a str> {
    let at = xml
        .match_indices("<iq")
        .map(|(at, _)| at)
        .find(|at| attr(&xml[*at..], "id").as_deref() == Some(id))?;
    let rest = &xml[at..];
    let tag_end = rest.find('>')?;
    let end = if rest[..tag_end].ends_with('/') {
        tag_end + 1
    } else {
        rest.find("</iq>")? + "</iq>".len()
    };
    Some(&rest[..end])
}

/// The text of the first `<name ...>` element in `xml`, from its start.
pub fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let at = xml
        .match_indices(&format!("<{name}"))
        .find(|(i, _)| {
            matches!(
                xml[i + name.len() + 1..].chars().next(),
                Some(' ' | '>' | '/')
            )
        })?
        .0;
    Some(&xml[at..])
}

/// The value of attribute `name` of the element `xml` starts with.
pub fn attr(xml: &str, name: &str) -> Option<String> {
    let tag = &xml[..xml.find('>')?];
    let at = tag.find(&format!(" {name}="))? + name.len() + 2;
    let quote = tag[at..].chars().next()?;
    let value = &tag[at + 1..];
    Some(unescape(&value[..value.find(quote)?]))
}

/// XML text with the five predefined entities replaced.
pub fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Standard base64 with padding, for SASL.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), coded);
        }
    }

    #[test]
    fn finds_elements_and_attributes() {
        let xml = "<iq type='result' id='a&amp;b'><jidx/><jid>x</jid></iq>";
        assert_eq!(attr(xml, "id").as_deref(), Some("a&b"));
        assert_eq!(attr(xml, "to"), None);
        assert_eq!(element(xml, "jid"), Some("<jid>x</jid></iq>"));
        assert_eq!(find_iq(xml, "a&b"), Some(xml));
        let two = "<iq id='1' type='result'/><iq id='2' type='error'><e/></iq>";
        assert_eq!(find_iq(two, "1"), Some("<iq id='1' type='result'/>"));
        assert_eq!(find_iq(two, "2"), Some("<iq id='2' type='error'><e/></iq>"));
        assert_eq!(find_iq("<iq id='3' type='result'><x/>", "3"), None);
    }
}
