//! Channel binding (RFC 5056): what ties a SCRAM-*-PLUS login (and a FAST
//! token's proof) to this TLS connection, so that a login relayed by a man
//! in the middle, who holds another TLS session, fails.
//!
//! Two types: `tls-exporter` (RFC 9266, TLS 1.3, preferred) and
//! `tls-server-end-point` (RFC 5929, the hash of the server's certificate,
//! any TLS version). A server lists the types it can check (XEP-0440); one
//! behind a TLS-terminating proxy, or whose TLS library cannot export
//! keying material, lists only the second.

use ring::digest;
use sasl::common::ChannelBinding;
use tokio_rustls::rustls;
use tokio_xmpp::parsers::sasl_cb::{SaslChannelBinding, Type as CbType};

/// What this TLS connection can bind to.
#[derive(Clone, Default, PartialEq, Eq)]
pub(super) struct TlsBinding {
    /// `tls-exporter` data (TLS 1.3 only).
    pub exporter: Option<Vec<u8>>,
    /// `tls-server-end-point` data.
    pub end_point: Option<Vec<u8>>,
}

impl std::fmt::Debug for TlsBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not secret, but long and useless in a log.
        f.debug_struct("TlsBinding")
            .field("exporter", &self.exporter.is_some())
            .field("end_point", &self.end_point.is_some())
            .finish()
    }
}

impl TlsBinding {
    pub(super) fn of(conn: &rustls::ClientConnection) -> Self {
        let exporter = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => conn
                .export_keying_material(vec![0u8; 32], b"EXPORTER-Channel-Binding", None)
                .ok(),
            _ => None,
        };
        let end_point = conn
            .peer_certificates()
            .and_then(|certs| certs.first())
            .map(|cert| end_point(cert.as_ref()));
        Self {
            exporter,
            end_point,
        }
    }

    /// The binding to log in with, given the types the server lists
    /// (`None`: it does not say, so only the default for TLS 1.3,
    /// tls-exporter, is assumed). `ChannelBinding::None` when we share no
    /// type with it.
    pub(super) fn pick(&self, listed: Option<&SaslChannelBinding>) -> ChannelBinding {
        let lists = |t: CbType| listed.is_some_and(|l| l.types.contains(&t));
        match (&self.exporter, &self.end_point) {
            (Some(data), _) if listed.is_none() || lists(CbType::TlsExporter) => {
                ChannelBinding::TlsExporter(data.clone())
            }
            (_, Some(data)) if lists(CbType::TlsServerEndPoint) => {
                ChannelBinding::TlsServerEndPoint(data.clone())
            }
            _ => ChannelBinding::None,
        }
    }
}

/// RFC 5929 §4.1: the certificate hashed with its signature's hash
/// function, SHA-256 when that is MD5 or SHA-1, or when the signature names
/// no single hash (RSASSA-PSS, Ed25519: as Prosody does).
fn end_point(der: &[u8]) -> Vec<u8> {
    let algorithm = match signature_oid(der) {
        Some(SHA384_RSA | SHA384_ECDSA) => &digest::SHA384,
        Some(SHA512_RSA | SHA512_ECDSA) => &digest::SHA512,
        _ => &digest::SHA256,
    };
    digest::digest(algorithm, der).as_ref().to_vec()
}

const SHA384_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
const SHA512_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
const SHA384_ECDSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
const SHA512_ECDSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04];

/// The OID of a DER certificate's `signatureAlgorithm` (RFC 5280 §4.1:
/// `SEQUENCE { tbsCertificate, signatureAlgorithm SEQUENCE { OID, .. },
/// signature }`).
fn signature_oid(der: &[u8]) -> Option<&[u8]> {
    let (0x30, cert, _) = tlv(der)? else {
        return None;
    };
    let (_, _, rest) = tlv(cert)?; // tbsCertificate
    let (0x30, algorithm, _) = tlv(rest)? else {
        return None;
    };
    match tlv(algorithm)? {
        (0x06, oid, _) => Some(oid),
        _ => None,
    }
}

/// One DER element: tag, contents, what follows.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A certificate's outline: SEQUENCE { SEQUENCE {..}, SEQUENCE { OID } ..}.
    fn cert_with(oid: &[u8]) -> Vec<u8> {
        let tbs = [0x30, 0x03, 0x02, 0x01, 0x01];
        let mut alg = vec![0x30, (oid.len() + 2) as u8, 0x06, oid.len() as u8];
        alg.extend_from_slice(oid);
        let sig = [0x03, 0x02, 0x00, 0xff];
        let body: Vec<u8> = [&tbs[..], &alg, &sig].concat();
        let mut der = vec![0x30, 0x81, body.len() as u8];
        der.extend(body);
        der
    }

    #[test]
    fn the_hash_follows_the_certificate_signature() {
        let sha256_rsa = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
        for (oid, len) in [
            (&sha256_rsa[..], 32),
            (SHA384_RSA, 48),
            (SHA512_ECDSA, 64),
            // Ed25519: no hash of its own.
            (&[0x2b, 0x65, 0x70][..], 32),
        ] {
            let der = cert_with(oid);
            assert_eq!(signature_oid(&der), Some(oid));
            assert_eq!(end_point(&der).len(), len);
        }
        // Not a certificate: still a SHA-256 of it, never a panic.
        assert_eq!(signature_oid(&[0x30, 0x85, 0xff]), None);
        assert_eq!(end_point(b"junk").len(), 32);
    }

    #[test]
    fn exporter_first_end_point_when_it_is_all_the_server_checks() {
        let both = TlsBinding {
            exporter: Some(vec![1]),
            end_point: Some(vec![2]),
        };
        let list = |types: &str| {
            let xml = format!(
                "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>{types}</sasl-channel-binding>"
            );
            SaslChannelBinding::try_from(xml.parse::<tokio_xmpp::minidom::Element>().expect("xml"))
                .expect("XEP-0440")
        };
        let end_only = list("<channel-binding type='tls-server-end-point'/>");
        let both_listed = list(
            "<channel-binding type='tls-server-end-point'/><channel-binding type='tls-exporter'/>",
        );
        let unique_only = list("<channel-binding type='tls-unique'/>");
        assert_eq!(both.pick(None), ChannelBinding::TlsExporter(vec![1]));
        assert_eq!(
            both.pick(Some(&both_listed)),
            ChannelBinding::TlsExporter(vec![1])
        );
        assert_eq!(
            both.pick(Some(&end_only)),
            ChannelBinding::TlsServerEndPoint(vec![2])
        );
        assert_eq!(both.pick(Some(&unique_only)), ChannelBinding::None);
        // TLS 1.2: only the certificate, and only where the server lists it.
        let tls12 = TlsBinding {
            exporter: None,
            end_point: Some(vec![2]),
        };
        assert_eq!(tls12.pick(None), ChannelBinding::None);
        assert_eq!(
            tls12.pick(Some(&both_listed)),
            ChannelBinding::TlsServerEndPoint(vec![2])
        );
    }
}
