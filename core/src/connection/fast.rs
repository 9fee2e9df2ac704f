//! XEP-0484 FAST: after a password login the server hands out a token;
//! later logins prove they hold it with one HMAC instead of a SCRAM
//! exchange, and can be sent before the server's features arrive.
//!
//! Only channel-bound mechanisms are used: `HT-SHA-256-EXPR` (tls-exporter,
//! TLS 1.3) or else `HT-SHA-256-ENDP` (the server certificate's hash, see
//! [`super::binding`]), so a token replayed through a man in the middle,
//! who holds another TLS session or certificate, is worthless. A token
//! keeps the mechanism it was issued for; without its binding on this
//! connection we log in with the password instead of sending it unbound.

use ring::hmac;
use sasl::client::{Mechanism, MechanismError};
use sasl::common::Credentials;

use super::binding::TlsBinding;
use super::memory::FastToken;

/// Bound to the TLS session (tls-exporter): preferred.
pub(super) const EXPR: &str = "HT-SHA-256-EXPR";
/// Bound to the server's certificate (tls-server-end-point).
pub(super) const ENDP: &str = "HT-SHA-256-ENDP";

/// The token to ask for with a password login: the best mechanism the
/// server's `<fast/>` offers that this connection can bind.
pub(super) fn to_request(offered: &[String], tls: &TlsBinding) -> Option<&'static str> {
    let offers = |m: &str| offered.iter().any(|o| o == m);
    if tls.exporter.is_some() && offers(EXPR) {
        Some(EXPR)
    } else if tls.end_point.is_some() && offers(ENDP) {
        Some(ENDP)
    } else {
        None
    }
}

/// The channel-binding data `token`'s proof needs on this connection.
pub(super) fn proof_binding<'a>(token: &FastToken, tls: &'a TlsBinding) -> Option<&'a [u8]> {
    match token.mechanism.as_str() {
        EXPR => tls.exporter.as_deref(),
        ENDP => tls.end_point.as_deref(),
        _ => None,
    }
}

/// Whether `token` is still worth sending (a minute of slack for clocks).
pub(super) fn usable(token: &FastToken, now: i64) -> bool {
    matches!(token.mechanism.as_str(), EXPR | ENDP) && token.expiry > now + 60
}

/// `HT-SHA-256-*` as a SASL mechanism: the initial response is the
/// user name and `HMAC(token, "Initiator" || cb)`; the server proves it
/// knows the token too with `HMAC(token, "Responder" || cb)` in its
/// success, which we check.
pub(super) struct HtSha256 {
    mechanism: String,
    username: String,
    key: hmac::Key,
    binding: Vec<u8>,
}

impl HtSha256 {
    pub(super) fn new(username: &str, token: &FastToken, binding: &[u8]) -> Self {
        Self {
            mechanism: token.mechanism.clone(),
            username: username.to_owned(),
            key: hmac::Key::new(hmac::HMAC_SHA256, token.secret.as_bytes()),
            binding: binding.to_vec(),
        }
    }

    fn tagged(&self, label: &[u8]) -> Vec<u8> {
        let mut message = label.to_vec();
        message.extend_from_slice(&self.binding);
        message
    }
}

impl Mechanism for HtSha256 {
    fn name(&self) -> &str {
        &self.mechanism
    }

    fn from_credentials(_: Credentials) -> Result<Self, MechanismError> {
        // Built from a token, never from a password.
        Err(MechanismError::InvalidState)
    }

    fn initial(&mut self) -> Vec<u8> {
        let mut out = self.username.as_bytes().to_vec();
        out.push(0);
        out.extend_from_slice(hmac::sign(&self.key, &self.tagged(b"Initiator")).as_ref());
        out
    }

    fn response(&mut self, _challenge: &[u8]) -> Result<Vec<u8>, MechanismError> {
        // A one-message mechanism: a challenge is a protocol error.
        Err(MechanismError::InvalidState)
    }

    fn success(&mut self, data: &[u8]) -> Result<(), MechanismError> {
        if data.is_empty() {
            return Err(MechanismError::NoSignatureInSuccessResponse);
        }
        hmac::verify(&self.key, &self.tagged(b"Responder"), data)
            .map_err(|_| MechanismError::InvalidSignatureInSuccessResponse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> FastToken {
        FastToken {
            mechanism: EXPR.into(),
            secret: "secret-token:fast-abc".into(),
            expiry: 2_000_000_000,
        }
    }

    #[test]
    fn the_proof_is_bound_to_the_tls_session_and_the_server_must_answer_it() {
        let mut ht = HtSha256::new("alice", &token(), b"cb-1");
        let initial = ht.initial();
        assert!(initial.starts_with(b"alice\0"));
        let proof = &initial[b"alice\0".len()..];
        assert_eq!(proof.len(), 32);
        let mut other = HtSha256::new("alice", &token(), b"cb-2");
        assert_ne!(
            &other.initial()[6..],
            proof,
            "another TLS session, another proof"
        );

        let key = hmac::Key::new(hmac::HMAC_SHA256, b"secret-token:fast-abc");
        let responder = hmac::sign(&key, b"Respondercb-1");
        assert!(ht.success(responder.as_ref()).is_ok());
        assert!(ht.success(b"forged").is_err());
        assert!(ht.success(b"").is_err());
        assert!(other.success(responder.as_ref()).is_err());
    }

    #[test]
    fn only_an_unexpired_bound_token_is_used_with_its_own_binding() {
        assert!(usable(&token(), 1_000));
        assert!(!usable(&token(), 2_000_000_000));
        let none = FastToken {
            mechanism: "HT-SHA-256-NONE".into(),
            ..token()
        };
        assert!(!usable(&none, 1_000));
        let tls13 = TlsBinding {
            exporter: Some(vec![1]),
            end_point: Some(vec![2]),
        };
        let tls12 = TlsBinding {
            exporter: None,
            end_point: Some(vec![2]),
        };
        let offered: Vec<String> = vec!["HT-SHA-256-NONE".into(), ENDP.into(), EXPR.into()];
        assert_eq!(to_request(&offered, &tls13), Some(EXPR));
        assert_eq!(to_request(&offered, &tls12), Some(ENDP));
        assert_eq!(to_request(&offered[..1], &tls13), None);
        assert_eq!(proof_binding(&token(), &tls13), Some(&[1u8][..]));
        assert_eq!(proof_binding(&token(), &tls12), None);
        let endp = FastToken {
            mechanism: ENDP.into(),
            ..token()
        };
        assert_eq!(proof_binding(&endp, &tls12), Some(&[2u8][..]));
    }
}
