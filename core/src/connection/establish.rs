//! Our reconnect loop: one authenticated stream per call, with capped
//! exponential backoff and jitter, and fatal errors that stop for good.
//!
//! tokio-xmpp's `StanzaStream` asks its connector for a fresh stream
//! whenever the link drops; its built-in connector retries every failure,
//! bad passwords and bad certificates included, forever. Ours classifies:
//! authentication and TLS verdicts are fatal (reported once, no retry);
//! everything else is retried, sooner when the app says the network is back,
//! and not at all while the app says there is no network.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_xmpp::error::AuthError;
use tokio_xmpp::jid::Jid;
use tokio_xmpp::parsers::ns;
use tokio_xmpp::parsers::sasl::DefinedCondition as SaslCondition;
use tokio_xmpp::stanzastream::{Connection, ResumeInfo};
use tokio_xmpp::xmlstream::{initiate_stream, FallibleStreamElement, StreamHeader, Timeouts};
use tokio_xmpp::Error as XmppError;

use super::connector::{Connector, TlsSetupError};
use super::memory::LoginMemory;
use super::resource::Resource;
use super::streak::Streak;
use super::verdicts::{DowngradeRefused, LoginRefused};
use super::LinkEvent;
use crate::model::FailureReason;

/// What every connection attempt of one link needs.
pub(super) struct Establisher {
    pub jid: Jid,
    /// The resource the next login binds (another after a `<conflict/>`).
    pub resource: Resource,
    /// The account's password as the app gave it, or as changed since
    /// (`Client::change_password`): read at each login.
    pub password: watch::Receiver<String>,
    /// PLAIN allowed when the server offers no SCRAM (`ClientConfig::allow_plain`).
    pub allow_plain: bool,
    /// What earlier logins proved and obtained: the pin, the FAST token.
    pub memory: Arc<dyn LoginMemory>,
    pub connector: Connector,
    pub timeouts: Timeouts,
    pub connect_timeout: Duration,
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// The app's network hint. Every report, even "still available" after
    /// a network change, cuts a backoff wait short.
    pub network: watch::Receiver<bool>,
    /// Becomes true when the link is closed or failed: stop trying. Set by
    /// the link on close and by us on a fatal error, before anything else
    /// can ask for another attempt.
    pub shutdown: Arc<watch::Sender<bool>>,
    /// What happened to our attempts: `Retrying` (a wait before the next
    /// one) or `Closed` with a fatal verdict. The link hands it to the
    /// session, which decides what the app sees.
    pub reports: mpsc::UnboundedSender<LinkEvent>,
    /// How the last logins ended: one that led nowhere (the stream broke
    /// while binding or resuming), or sessions that keep dying at once,
    /// make the next one wait as after a failure, so that a server that
    /// keeps refusing cannot spin the radio.
    pub streak: Streak,
    /// Send a FAST `<authenticate/>` with the stream header, before the
    /// features arrive. Cleared when a server turns out not to offer SASL2
    /// any more; set again by a FAST login.
    pub quick_start: AtomicBool,
}

impl Establisher {
    /// Fills `slot` with an authenticated stream, or with a dead one when the
    /// link is shutting down (tokio-xmpp treats a dropped slot as a crash).
    /// `resume`: the lost session, for an inline resumption (SASL2).
    pub(super) async fn run(
        self: Arc<Self>,
        slot: oneshot::Sender<Connection>,
        resume: Option<ResumeInfo>,
    ) {
        let mut network = self.network.clone();
        let mut shutdown = self.shutdown.subscribe();
        let mut failures = 0u32;
        let unproductive = self.streak.failures();
        if unproductive > 0 {
            tracing::warn!("the last {unproductive} logins never got online or died at once");
            if self
                .back_off(unproductive, &mut network, &mut shutdown)
                .await
            {
                return feed_dead(slot, &self.jid).await;
            }
        }
        loop {
            // The network hint's sender lives in the Client: gone means
            // nobody wants this link any more.
            let client_gone = network.has_changed().is_err();
            if *shutdown.borrow() || slot.is_closed() || client_gone {
                return feed_dead(slot, &self.jid).await;
            }
            if !*network.borrow_and_update() {
                tracing::debug!("no network: waiting before connecting");
                // An error means the Client is gone: nobody wants this link.
                let client_gone = tokio::select! {
                    up = network.wait_for(|up| *up) => up.is_err(),
                    _ = shutdown.wait_for(|down| *down) => false,
                };
                if client_gone {
                    return feed_dead(slot, &self.jid).await;
                }
                continue;
            }
            tracing::debug!(jid = %self.jid, "connection attempt");
            let attempt = tokio::time::timeout(self.connect_timeout, self.login(resume.as_ref()));
            let result = tokio::select! {
                r = attempt => r,
                _ = shutdown.wait_for(|down| *down) => continue,
            };
            let error = match result {
                Ok(Ok(conn)) => {
                    self.streak.handed();
                    if slot.send(conn).is_err() {
                        tracing::debug!("link closed while connecting");
                    }
                    return;
                }
                Ok(Err(e)) => {
                    if let Some(reason) = fatal_reason(&e) {
                        tracing::error!("giving up: {reason}");
                        self.shutdown.send_replace(true);
                        let _ = self.reports.send(LinkEvent::Closed(Some(reason)));
                        return feed_dead(slot, &self.jid).await;
                    }
                    e.to_string()
                }
                Err(_) => format!("no answer within {:?}", self.connect_timeout),
            };
            failures += 1;
            tracing::warn!("connection attempt {failures} failed: {error}");
            if self.back_off(failures, &mut network, &mut shutdown).await {
                return feed_dead(slot, &self.jid).await;
            }
        }
    }
}

impl Establisher {
    /// Waits out the backoff for `attempt` (state `Reconnecting`), cut short
    /// by any network report or a shutdown. True if the Client is gone.
    async fn back_off(
        &self,
        attempt: u32,
        network: &mut watch::Receiver<bool>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        let delay = backoff(attempt, self.min_delay, self.max_delay);
        tracing::info!("retrying in {delay:?}");
        let _ = self.reports.send(LinkEvent::Retrying {
            attempt,
            retry_in: delay,
        });
        tokio::select! {
            _ = tokio::time::sleep(delay) => false,
            changed = network.changed() => {
                tracing::debug!("network changed: retrying now");
                changed.is_err()
            }
            _ = shutdown.wait_for(|down| *down) => false,
        }
    }
}

/// Failures that retrying cannot fix.
fn fatal_reason(e: &XmppError) -> Option<FailureReason> {
    match e {
        // The server could not check the password just now (its database
        // is down, say): the next attempt may well work.
        XmppError::Auth(AuthError::Fail(SaslCondition::TemporaryAuthFailure)) => None,
        XmppError::Auth(AuthError::Fail(condition)) => Some(FailureReason::Authentication {
            detail: format!("{condition:?}"),
        }),
        XmppError::Auth(AuthError::NoMechanism) => Some(FailureReason::Authentication {
            detail: "the server offers no authentication mechanism we support".into(),
        }),
        // E.g. a SCRAM server signature that does not match: someone in the middle.
        XmppError::Auth(other) => Some(FailureReason::Authentication {
            detail: other.to_string(),
        }),
        XmppError::Connection(inner) => {
            let inner: &(dyn std::error::Error + 'static) = &**inner;
            if let Some(downgrade) = inner.downcast_ref::<DowngradeRefused>() {
                return Some(FailureReason::Downgrade {
                    detail: downgrade.0.clone(),
                });
            }
            if let Some(refused) = inner.downcast_ref::<LoginRefused>() {
                return Some(FailureReason::Authentication {
                    detail: refused.0.clone(),
                });
            }
            inner
                .downcast_ref::<TlsSetupError>()
                .map(|tls| FailureReason::Certificate {
                    detail: tls.0.clone(),
                })
        }
        _ => None,
    }
}

/// `min * 2^(failures-1)`, capped at `max`, minus up to a quarter of random
/// jitter so that many clients cut off together do not return together.
pub(super) fn backoff(failures: u32, min: Duration, max: Duration) -> Duration {
    let exp = min.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    let capped = exp.min(max);
    let jitter = capped.mul_f64(fastrand::f64() * 0.25);
    capped - jitter
}

const DEAD_STREAM: &[u8] = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
xmlns:stream='http://etherx.jabber.org/streams' id='closed' version='1.0'><stream:features>\
<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>";

/// Ends the `StanzaStream` worker gracefully: it gets a stream whose peer is
/// already gone, fails to bind on it, sees that its frontend was closed and
/// exits. (Dropping the slot instead makes the worker panic.)
async fn feed_dead(slot: oneshot::Sender<Connection>, jid: &Jid) {
    match dead_connection(jid.clone()).await {
        Ok(conn) => {
            let _ = slot.send(conn);
        }
        Err(e) => tracing::warn!("could not build a closed stream: {e}"),
    }
}

async fn dead_connection(identity: Jid) -> std::io::Result<Connection> {
    let (ours, mut theirs) = tokio::io::duplex(4096);
    theirs.write_all(DEAD_STREAM).await?;
    let header = StreamHeader {
        to: None,
        from: None,
        id: None,
    };
    let stream = initiate_stream(
        BufStream::new(ours),
        ns::JABBER_CLIENT,
        header,
        Timeouts::tight(),
    )
    .await?;
    let (features, stream) = stream
        .recv_features::<FallibleStreamElement>()
        .await
        .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    drop(theirs);
    Ok(Connection {
        stream: stream.box_stream(),
        features,
        identity,
        negotiated: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(60));
        for failures in 1..40 {
            let d = backoff(failures, min, max);
            let ceiling = min.saturating_mul(1 << (failures - 1).min(16)).min(max);
            assert!(
                d <= ceiling && d >= ceiling.mul_f64(0.75),
                "{failures}: {d:?}"
            );
        }
        assert!(backoff(30, min, max) <= max);
    }

    #[tokio::test]
    async fn dead_connection_is_offered_bind() {
        let conn = dead_connection("a@example.test".parse().expect("jid"))
            .await
            .expect("dead stream");
        assert!(conn.features.can_bind());
    }
}
