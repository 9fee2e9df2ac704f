//! XEP-0484 FAST: after a password login the server hands out a token;
//! later logins prove they hold it with one HMAC instead of a SCRAM
//! exchange, and can be sent before the server's features arrive.
//!
//! Only `HT-SHA-256-EXPR` is used: the proof is bound to the TLS session
//! (tls-exporter, TLS 1.3), so a token replayed on another connection, or
//! through a man in the middle, is worthless. Without exporter data we log
//! in with the password instead of sending an unbound token.

use ring::hmac;
use sasl::client::{Mechanism, MechanismError};
use sasl::common::Credentials;

use super::memory::FastToken;

/// The one FAST mechanism we use.
pub(super) const MECHANISM: &str = "HT-SHA-256-EXPR";

/// Whether the server's `<fast/>` inline feature offers our mechanism.
pub(super) fn offered(mechanisms: &[String]) -> bool {
    mechanisms.iter().any(|m| m == MECHANISM)
}

/// Whether `token` is still worth sending (a minute of slack for clocks).
pub(super) fn usable(token: &FastToken, now: i64) -> bool {
    token.mechanism == MECHANISM && token.expiry > now + 60
}

/// `HT-SHA-256-*` as a SASL mechanism: the initial response is the
/// user name and `HMAC(token, "Initiator" || cb)`; the server proves it
/// knows the token too with `HMAC(token, "Responder" || cb)` in its
/// success, which we check.
pub(super) struct HtSha256 {
    username: String,
    key: hmac::Key,
    binding: Vec<u8>,
}

impl HtSha256 {
    pub(super) fn new(username: &str, token: &FastToken, binding: &[u8]) -> Self {
        Self {
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
        MECHANISM
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
            mechanism: MECHANISM.into(),
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
    fn only_an_unexpired_exporter_bound_token_is_used() {
        assert!(usable(&token(), 1_000));
        assert!(!usable(&token(), 2_000_000_000));
        let none = FastToken {
            mechanism: "HT-SHA-256-NONE".into(),
            ..token()
        };
        assert!(!usable(&none, 1_000));
        assert!(offered(&["HT-SHA-256-NONE".into(), MECHANISM.into()]));
        assert!(!offered(&["HT-SHA-256-NONE".into()]));
    }
}
