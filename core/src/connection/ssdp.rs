//! XEP-0474 SASL SCRAM Downgrade Protection: a server that supports it
//! puts in its first SCRAM message (`h=`) the hash of the mechanisms and
//! channel-binding types it offered. Someone in the middle who strips the
//! stronger ones from the features (in clear before STARTTLS is not
//! possible here, but a TLS-terminating box can) cannot forge that hash
//! without the password, so a mismatch ends the login as a downgrade.
//! A server without it sends no `h=`: nothing to check.

use ring::digest;
use tokio_xmpp::parsers::sasl_cb::{SaslChannelBinding, Type as CbType};
use tokio_xmpp::Error as XmppError;

use super::verdicts::DowngradeRefused;

/// What the server offered, as XEP-0474 hashes it.
pub(super) struct Ssdp {
    /// Mechanisms sorted and joined by 0x1E, then (if the server listed
    /// channel-binding types) 0x1F and the sorted types joined by 0x1E.
    text: Vec<u8>,
    /// When `lenient`, also accepted: the mechanisms with any part of the
    /// binding types, or none.
    mechanisms: String,
    types: Vec<&'static str>,
    lenient: bool,
}

impl Ssdp {
    pub(super) fn new<'a>(
        mechanisms: impl IntoIterator<Item = &'a String>,
        bindings: Option<&SaslChannelBinding>,
    ) -> Self {
        let mut names: Vec<&str> = mechanisms.into_iter().map(String::as_str).collect();
        names.sort_unstable();
        let mechanisms = names.join("\u{1e}");
        let mut types: Vec<&'static str> = bindings
            .map(|list| list.types.iter().map(type_name).collect())
            .unwrap_or_default();
        types.sort_unstable();
        let text = match bindings {
            Some(_) => with_types(&mechanisms, &types),
            None => mechanisms.clone(),
        };
        Self {
            text: text.into_bytes(),
            mechanisms,
            types,
            lenient: false,
        }
    }

    /// For a second authentication on the same stream (the password after
    /// a refused FAST token): Prosody 13 resets its SASL handler after a
    /// failure and then hashes only some of its channel-binding types.
    /// Stripped mechanisms are still caught there; stripped binding types
    /// are left to the login pin.
    pub(super) fn after_a_failure(mut self) -> Self {
        self.lenient = true;
        self
    }

    /// Checks the `h=` of a SCRAM server-first `challenge` for `mechanism`,
    /// if it has one.
    pub(super) fn check(&self, mechanism: &str, challenge: &[u8]) -> Result<(), XmppError> {
        let Some(theirs) = attribute(challenge, "h=") else {
            return Ok(());
        };
        let algorithm = match mechanism.trim_end_matches("-PLUS") {
            "SCRAM-SHA-1" => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            "SCRAM-SHA-256" => &digest::SHA256,
            "SCRAM-SHA-512" => &digest::SHA512,
            _ => return Ok(()),
        };
        let hash = |text: &[u8]| {
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                digest::digest(algorithm, text),
            )
        };
        let lenient = || {
            // Every part of the types (at most 4: 16 hashes), and none.
            (0u32..1 << self.types.len())
                .map(|mask| {
                    let part: Vec<&str> = (self.types.iter().enumerate())
                        .filter(|(i, _)| mask & (1 << i) != 0)
                        .map(|(_, t)| *t)
                        .collect();
                    with_types(&self.mechanisms, &part)
                })
                .chain([self.mechanisms.clone()])
                .any(|text| hash(text.as_bytes()) == theirs)
        };
        if hash(&self.text) == theirs || (self.lenient && lenient()) {
            tracing::debug!("the server's downgrade protection (XEP-0474) matches");
            return Ok(());
        }
        tracing::warn!(
            offered = %String::from_utf8_lossy(&self.text).replace(['\u{1e}', '\u{1f}'], " "),
            "the server's downgrade protection (XEP-0474) does not match what we were offered"
        );
        Err(XmppError::from(DowngradeRefused(
            "the server says it offered other mechanisms or channel-binding types than \
             the ones that reached us (XEP-0474): someone may have stripped the stronger ones"
                .into(),
        )))
    }
}

/// The mechanisms, 0x1F, and the binding types joined by 0x1E.
fn with_types(mechanisms: &str, types: &[&str]) -> String {
    format!("{mechanisms}\u{1f}{}", types.join("\u{1e}"))
}

fn type_name(t: &CbType) -> &'static str {
    match t {
        CbType::TlsUnique => "tls-unique",
        CbType::TlsServerEndPoint => "tls-server-end-point",
        CbType::TlsUniqueForTelnet => "tls-unique-for-telnet",
        CbType::TlsExporter => "tls-exporter",
    }
}

/// The value of `key` (e.g. `h=`) among a SCRAM message's attributes.
fn attribute<'a>(message: &'a [u8], key: &str) -> Option<&'a str> {
    std::str::from_utf8(message)
        .ok()?
        .split(',')
        .find_map(|kv| kv.strip_prefix(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssdp(mechs: &[&str], types: Option<Vec<CbType>>) -> Ssdp {
        let mechs: Vec<String> = mechs.iter().map(|m| m.to_string()).collect();
        let list = types.map(|types| SaslChannelBinding { types });
        Ssdp::new(&mechs, list.as_ref())
    }

    #[test]
    fn the_hashed_text_is_sorted_and_separated_as_the_xep_says() {
        let s = ssdp(
            &["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1", "PLAIN"],
            Some(vec![CbType::TlsServerEndPoint, CbType::TlsExporter]),
        );
        assert_eq!(
            s.text,
            b"PLAIN\x1eSCRAM-SHA-1\x1eSCRAM-SHA-256-PLUS\x1ftls-exporter\x1etls-server-end-point"
        );
        assert_eq!(ssdp(&["B", "A"], None).text, b"A\x1eB");
    }

    #[test]
    fn a_matching_hash_passes_a_different_one_is_a_downgrade_none_is_nothing() {
        let s = ssdp(&["SCRAM-SHA-1", "SCRAM-SHA-256"], None);
        let hash = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            digest::digest(&digest::SHA256, b"SCRAM-SHA-1\x1eSCRAM-SHA-256"),
        );
        let first = format!("r=abc,s=c2FsdA==,i=4096,h={hash}");
        assert!(s.check("SCRAM-SHA-256", first.as_bytes()).is_ok());
        // The server offered SCRAM-SHA-256-PLUS too, which was stripped.
        let stripped = ssdp(&["SCRAM-SHA-1"], None);
        assert!(stripped.check("SCRAM-SHA-256", first.as_bytes()).is_err());
        assert!(s.check("SCRAM-SHA-256", b"r=abc,s=c2FsdA==,i=4096").is_ok());
    }

    #[test]
    fn after_a_failure_part_of_the_binding_types_is_enough() {
        let types = Some(vec![CbType::TlsExporter, CbType::TlsServerEndPoint]);
        let hash = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            digest::digest(&digest::SHA256, b"SCRAM-SHA-256\x1ftls-exporter"),
        );
        let first = format!("r=abc,s=c2FsdA==,i=4096,h={hash}");
        let strict = ssdp(&["SCRAM-SHA-256"], types.clone());
        assert!(strict.check("SCRAM-SHA-256", first.as_bytes()).is_err());
        let retry = ssdp(&["SCRAM-SHA-256"], types).after_a_failure();
        assert!(retry.check("SCRAM-SHA-256", first.as_bytes()).is_ok());
        // A stripped mechanism is still caught.
        let stripped = ssdp(&["SCRAM-SHA-1"], None).after_a_failure();
        assert!(stripped.check("SCRAM-SHA-256", first.as_bytes()).is_err());
    }
}
