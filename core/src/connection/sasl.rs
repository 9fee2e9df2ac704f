//! Our SASL step (RFC 6120 §6), instead of tokio-xmpp's: it picks the
//! mechanism by our policy, verifies the server, and bounds the work a
//! server can ask of us.
//!
//! - SCRAM only, SHA-256 before SHA-1, `-PLUS` (channel binding,
//!   tls-exporter on TLS 1.3) whenever both sides can: a SCRAM-only server
//!   never gets PLAIN. PLAIN only when the app allowed it for the account
//!   and the server offers no SCRAM at all; never ANONYMOUS.
//! - The server's SCRAM signature (`v=`) must match, or the login fails:
//!   a server that cannot prove it knows the password is an impostor.
//! - The server chooses the PBKDF2 iteration count; above
//!   [`MAX_ITERATIONS`] we refuse, and the hashing runs on the blocking
//!   pool so it never stalls the runtime.

use std::collections::BTreeSet;
use std::io;
use std::str::FromStr;

use futures::{SinkExt, StreamExt};
use sasl::client::mechanisms::{Plain, Scram};
use sasl::client::{Mechanism, MechanismError};
use sasl::common::scram::{Sha1, Sha256, Sha512};
use sasl::common::ChannelBinding;
use tokio::io::{AsyncBufRead, AsyncWrite};
use tokio_xmpp::error::AuthError;
use tokio_xmpp::parsers::sasl::{Auth, Mechanism as XmppMechanism, Nonza, Response};
use tokio_xmpp::xmlstream::{InitiatingStream, ReadError, XmppStream, XmppStreamElement};
use tokio_xmpp::Error as XmppError;

use super::ssdp::Ssdp;
use super::verdicts::LoginRefused;

/// Most PBKDF2 iterations a server may ask for (RFC 7677 asks for at
/// least 4096; servers use 4096 to a few hundred thousand). About a second
/// of hashing on a slow phone.
pub(super) const MAX_ITERATIONS: u32 = 1_000_000;

/// What a mechanism proves, by its name: SCRAM at all, a SHA-2 hash
/// (SHA-256 or SHA-512: the pin names the first), channel binding.
fn strength(name: &str) -> (bool, bool, bool) {
    (
        name.starts_with("SCRAM-"),
        name.contains("SHA-256") || name.contains("SHA-512"),
        name.ends_with("-PLUS"),
    )
}

/// Whether logging in with `now` gives up something `pinned` had.
pub(super) fn is_downgrade(pinned: &str, now: Choice) -> bool {
    let (p, n) = (strength(pinned), strength(now.name()));
    (p.0 && !n.0) || (p.1 && !n.1) || (p.2 && !n.2)
}

/// The pin after a login with `now`, if it rises: each property once
/// proven stays required.
pub(super) fn raised(pinned: Option<&str>, now: Choice) -> Option<String> {
    let (p, n) = (strength(pinned.unwrap_or("")), strength(now.name()));
    let (scram, sha256, plus) = (p.0 || n.0, p.1 || n.1, p.2 || n.2);
    let name = match (scram, sha256, plus) {
        (false, _, _) => "PLAIN",
        (true, false, false) => "SCRAM-SHA-1",
        (true, true, false) => "SCRAM-SHA-256",
        (true, false, true) => "SCRAM-SHA-1-PLUS",
        (true, true, true) => "SCRAM-SHA-256-PLUS",
    };
    (pinned != Some(name)).then(|| name.to_owned())
}

/// The mechanisms we may use, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Choice {
    ScramSha512Plus,
    ScramSha256Plus,
    ScramSha1Plus,
    ScramSha512,
    ScramSha256,
    ScramSha1,
    Plain,
}

impl Choice {
    pub(super) fn name(self) -> &'static str {
        match self {
            Choice::ScramSha512Plus => "SCRAM-SHA-512-PLUS",
            Choice::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
            Choice::ScramSha1Plus => "SCRAM-SHA-1-PLUS",
            Choice::ScramSha512 => "SCRAM-SHA-512",
            Choice::ScramSha256 => "SCRAM-SHA-256",
            Choice::ScramSha1 => "SCRAM-SHA-1",
            Choice::Plain => "PLAIN",
        }
    }

    pub(super) fn plus(self) -> bool {
        matches!(
            self,
            Choice::ScramSha512Plus | Choice::ScramSha256Plus | Choice::ScramSha1Plus
        )
    }
}

/// Picks the mechanism: the best SCRAM the server offers (with channel
/// binding when we share a binding type with the server, see
/// [`super::binding`]), PLAIN only if `allow_plain` and there is no SCRAM
/// at all.
pub(super) fn choose(
    offered: &BTreeSet<String>,
    binds: bool,
    allow_plain: bool,
) -> Result<Choice, String> {
    let order = [
        Choice::ScramSha512Plus,
        Choice::ScramSha256Plus,
        Choice::ScramSha1Plus,
        Choice::ScramSha512,
        Choice::ScramSha256,
        Choice::ScramSha1,
    ];
    if let Some(best) = order
        .into_iter()
        .find(|c| offered.contains(c.name()) && (binds || !c.plus()))
    {
        return Ok(best);
    }
    if offered.contains("PLAIN") && !offered.iter().any(|m| m.starts_with("SCRAM-")) {
        return if allow_plain {
            Ok(Choice::Plain)
        } else {
            Err(
                "the server offers only PLAIN, which this account does not allow \
                 (the password would reach the server as it is)"
                    .into(),
            )
        };
    }
    Err(format!(
        "the server offers no mechanism we accept (offered: {})",
        offered.iter().cloned().collect::<Vec<_>>().join(", ")
    ))
}

/// The iteration count of a SCRAM server-first message, if it has one.
fn iterations(challenge: &[u8]) -> Option<u64> {
    std::str::from_utf8(challenge)
        .ok()?
        .split(',')
        .find_map(|kv| kv.strip_prefix("i="))
        .and_then(|i| i.parse().ok())
}

pub(super) fn refuse(reason: impl Into<String>) -> XmppError {
    XmppError::from(LoginRefused(reason.into()))
}

pub(super) type Boxed = Box<dyn Mechanism + Send>;

pub(super) fn mechanism(
    choice: Choice,
    username: &str,
    password: &str,
    binding: &ChannelBinding,
    server_binds: bool,
) -> Result<Boxed, XmppError> {
    // With binding data but no -PLUS offered, say so ("y"): a server that
    // does support binding then sees that someone stripped it. When it
    // offers -PLUS with types we cannot produce, "n": "y" would be a lie
    // it must reject (RFC 5802 §6).
    let unused = match binding {
        ChannelBinding::None => ChannelBinding::None,
        _ if server_binds => ChannelBinding::None,
        _ => ChannelBinding::Unsupported,
    };
    let binding = if choice.plus() {
        binding.clone()
    } else {
        unused
    };
    let scram_error = |e| refuse(format!("cannot start SCRAM: {e:?}"));
    Ok(match choice {
        Choice::ScramSha512Plus | Choice::ScramSha512 => {
            Box::new(Scram::<Sha512>::new(username, password, binding).map_err(scram_error)?)
        }
        Choice::ScramSha256Plus | Choice::ScramSha256 => {
            Box::new(Scram::<Sha256>::new(username, password, binding).map_err(scram_error)?)
        }
        Choice::ScramSha1Plus | Choice::ScramSha1 => {
            Box::new(Scram::<Sha1>::new(username, password, binding).map_err(scram_error)?)
        }
        Choice::Plain => Box::new(Plain::new(username, password)),
    })
}

/// The whole exchange on `stream`: `<auth>`, challenges, and a verified
/// `<success>`. On success the stream is ready for its reset.
pub(super) async fn authenticate<S: AsyncBufRead + AsyncWrite + Unpin>(
    mut stream: XmppStream<S>,
    choice: Choice,
    offered: &BTreeSet<String>,
    username: &str,
    password: &str,
    binding: &ChannelBinding,
    ssdp: &Ssdp,
) -> Result<InitiatingStream<S>, XmppError> {
    let server_binds = offered.iter().any(|m| m.ends_with("-PLUS"));
    let mut mechanism = mechanism(choice, username, password, binding, server_binds)?;
    let initial = mechanism.initial();
    let name = XmppMechanism::from_str(choice.name())
        .map_err(|e| refuse(format!("{}: {e}", choice.name())))?;
    stream
        .send(&XmppStreamElement::Sasl(Nonza::Auth(Auth {
            mechanism: name,
            data: initial,
        })))
        .await?;
    // SCRAM's server-final (`v=`) normally comes with <success/>; a server
    // may send it as a last challenge instead.
    let mut verified = choice == Choice::Plain;
    let mut answered = false;
    loop {
        let next = stream
            .next()
            .await
            .map(|r| r.and_then(|e| e.into_read_error()));
        match next {
            Some(Ok(XmppStreamElement::Sasl(Nonza::Challenge(c)))) if answered => {
                mechanism.success(&c.data).map_err(impostor)?;
                verified = true;
                respond(&mut stream, Vec::new()).await?;
            }
            Some(Ok(XmppStreamElement::Sasl(Nonza::Challenge(c)))) => {
                let (back, response) = answer(mechanism, c.data, Some(ssdp)).await?;
                mechanism = back;
                respond(&mut stream, response).await?;
                answered = true;
            }
            Some(Ok(XmppStreamElement::Sasl(Nonza::Success(s)))) => {
                if !verified {
                    mechanism.success(&s.data).map_err(impostor)?;
                }
                return Ok(stream.initiate_reset());
            }
            Some(Ok(XmppStreamElement::Sasl(Nonza::Failure(f)))) => {
                return Err(XmppError::Auth(AuthError::Fail(f.defined_condition)))
            }
            Some(Ok(other)) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unexpected element during SASL: {other:?}"),
                )
                .into())
            }
            Some(Err(ReadError::SoftTimeout)) => {}
            Some(Err(ReadError::HardError(e))) => return Err(e.into()),
            Some(Err(ReadError::ParseError(e))) => {
                return Err(io::Error::new(io::ErrorKind::InvalidData, e).into())
            }
            Some(Err(ReadError::StreamFooterReceived)) | None => {
                return Err(XmppError::Disconnected)
            }
        }
    }
}

/// The answer to a server challenge. The server chooses the SCRAM
/// iteration count: above [`MAX_ITERATIONS`] we refuse, and the hashing
/// runs on the blocking pool, never on a runtime thread.
pub(super) async fn answer(
    mut mechanism: Boxed,
    challenge: Vec<u8>,
    ssdp: Option<&Ssdp>,
) -> Result<(Boxed, Vec<u8>), XmppError> {
    if let Some(ssdp) = ssdp {
        ssdp.check(mechanism.name(), &challenge)?;
    }
    if let Some(i) = iterations(&challenge) {
        if i > u64::from(MAX_ITERATIONS) {
            return Err(refuse(format!(
                "the server asks for {i} SCRAM iterations; at most {MAX_ITERATIONS} are done"
            )));
        }
    }
    let (back, response) = tokio::task::spawn_blocking(move || {
        let response = mechanism.response(&challenge);
        (mechanism, response)
    })
    .await
    .map_err(|e| refuse(format!("SCRAM hashing stopped: {e}")))?;
    Ok((back, response.map_err(AuthError::Sasl)?))
}

async fn respond<S: AsyncBufRead + AsyncWrite + Unpin>(
    stream: &mut XmppStream<S>,
    data: Vec<u8>,
) -> Result<(), XmppError> {
    stream
        .send(&XmppStreamElement::Sasl(Nonza::Response(Response { data })))
        .await?;
    Ok(())
}

pub(super) fn impostor(e: MechanismError) -> XmppError {
    refuse(format!(
        "the server could not prove it knows the password ({e:?}): not the real server"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn scram_is_preferred_and_plain_only_when_allowed_and_alone() {
        let all = offered(&["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256"]);
        assert_eq!(choose(&all, true, true), Ok(Choice::ScramSha1Plus));
        let sha512 = offered(&["SCRAM-SHA-256-PLUS", "SCRAM-SHA-512", "SCRAM-SHA-512-PLUS"]);
        assert_eq!(choose(&sha512, true, true), Ok(Choice::ScramSha512Plus));
        assert_eq!(choose(&sha512, false, true), Ok(Choice::ScramSha512));
        // No binding type shared with the server: the best without -PLUS.
        assert_eq!(choose(&all, false, true), Ok(Choice::ScramSha256));
        // SCRAM without -PLUS on TLS 1.3: still SCRAM, never PLAIN.
        let no_plus = offered(&["PLAIN", "SCRAM-SHA-1"]);
        assert_eq!(choose(&no_plus, true, true), Ok(Choice::ScramSha1));
        let plain = offered(&["PLAIN", "ANONYMOUS"]);
        assert!(choose(&plain, true, false).is_err());
        assert_eq!(choose(&plain, true, true), Ok(Choice::Plain));
        assert!(choose(&offered(&["ANONYMOUS"]), true, true).is_err());
    }

    #[test]
    fn a_pin_only_rises_and_anything_weaker_is_a_downgrade() {
        assert_eq!(
            raised(None, Choice::ScramSha1).as_deref(),
            Some("SCRAM-SHA-1")
        );
        assert_eq!(raised(Some("SCRAM-SHA-1"), Choice::ScramSha1), None);
        assert_eq!(
            raised(Some("SCRAM-SHA-256"), Choice::ScramSha1Plus).as_deref(),
            Some("SCRAM-SHA-256-PLUS")
        );
        assert!(is_downgrade("SCRAM-SHA-1-PLUS", Choice::ScramSha256));
        assert!(is_downgrade("SCRAM-SHA-256", Choice::ScramSha1Plus));
        assert!(is_downgrade("SCRAM-SHA-1", Choice::Plain));
        assert!(!is_downgrade("SCRAM-SHA-1", Choice::ScramSha256Plus));
        assert!(!is_downgrade("PLAIN", Choice::Plain));
        // SHA-512 proves what SHA-256 does: the pin names the latter.
        assert_eq!(
            raised(Some("SCRAM-SHA-256-PLUS"), Choice::ScramSha512Plus),
            None
        );
        assert!(!is_downgrade("SCRAM-SHA-256-PLUS", Choice::ScramSha512Plus));
        assert!(is_downgrade("SCRAM-SHA-256", Choice::ScramSha1));
    }

    #[test]
    fn the_iteration_count_is_read_from_the_server_first_message() {
        assert_eq!(iterations(b"r=abc,s=c2FsdA==,i=4096"), Some(4096));
        assert_eq!(
            iterations(b"r=abc,s=c2FsdA==,i=4294967295"),
            Some(4294967295)
        );
        assert_eq!(iterations(b"r=abc,s=c2FsdA=="), None);
    }
}
