//! The link to the server: the only module that touches the XMPP stream.
//!
//! It wraps tokio-xmpp's `StanzaStream` (which does XEP-0198 acks and
//! resumption) with our own connector ([`connector`]: TCP + rustls with the
//! app's trust anchors) and our own reconnect policy ([`establish`]). What
//! the rest of the core sees is small: [`Link::next`] yields "online",
//! "suspended", a stanza, or "closed"; [`Link::send`] queues a stanza and
//! returns a [`Delivery`] that resolves to acked or lost. The login
//! ([`login`]) uses SASL2 + Bind2 + FAST where the server offers them,
//! handing tokio-xmpp a stream that is already bound or resumed (our
//! patch to it, vendor/README.md).

mod binding;
mod candidates;
mod connector;
mod csi;
mod dns;
mod establish;
mod eyeballs;
mod fast;
mod login;
mod memory;
mod register;
mod resource;
mod sasl;
mod sasl2;
mod socket;
mod ssdp;
mod streak;
mod verdicts;

pub(crate) use connector::https_config;
pub(crate) use dns::DnsServers;
pub(crate) use memory::{FastToken, LoginMemory};
pub(crate) use register::register;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::ping::Ping;
use tokio_xmpp::stanzastream::{
    Event as StreamEvent0, Reconnect, Reconnector, StanzaStage, StanzaStream, StanzaToken,
    StreamEvent,
};
use tokio_xmpp::xmlstream::Timeouts;
use tokio_xmpp::Stanza;

use crate::config::ClientConfig;
use crate::error::Error;
use crate::model::FailureReason;
use connector::Connector;
use csi::Csi;
use establish::Establisher;
use resource::Resource;

/// Depth of tokio-xmpp's send and receive queues.
const QUEUE_DEPTH: usize = 1024;

/// What happened on the link. The link only reports: the session decides
/// what the app sees (the one publisher of `ConnectionState`).
#[derive(Debug)]
pub(crate) enum LinkEvent {
    /// Online. `resumed == false` means a fresh session: the server forgot
    /// everything unacked, and presence must be sent again. `acks` is false
    /// on a server without stream management: nothing sent on this session
    /// will ever be acked (or reported lost for a reason).
    /// `max_bytes`: the largest stanza the server accepts, if it says
    /// (XEP-0478); a bigger one would make it close the stream.
    Online {
        resumed: bool,
        acks: bool,
        max_bytes: Option<u32>,
    },
    /// The link broke; reconnecting.
    Suspended,
    /// An attempt failed (`attempt` in a row); the next one starts in
    /// `retry_in`, sooner on a network report.
    Retrying {
        attempt: u32,
        retry_in: std::time::Duration,
    },
    /// A stanza from the server.
    Stanza(Box<Stanza>),
    /// The link is gone for good: closed locally, or failed (with a reason).
    Closed(Option<FailureReason>),
}

/// The fate of one sent stanza.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The server confirmed receipt (XEP-0198 ack).
    Acked,
    /// The stanza may not have reached the server: the session it was sent
    /// on was lost, or sending failed. The caller should send it again.
    Lost,
}

/// Follows one stanza through the send queue.
pub(crate) struct Delivery(StanzaToken);

impl Delivery {
    /// Resolves once the stanza was written to the network (true), or could
    /// not be (false).
    pub(crate) async fn written(&mut self) -> bool {
        matches!(self.0.wait_for(StanzaStage::Sent).await, Some(s) if s == StanzaStage::Sent || s == StanzaStage::Acked)
    }

    pub(crate) async fn outcome(mut self) -> Outcome {
        match self.0.wait_for(StanzaStage::Acked).await {
            Some(s) if s == StanzaStage::Acked => Outcome::Acked,
            _ => Outcome::Lost,
        }
    }
}

/// One logical session with the server, across reconnects and resumptions.
pub(crate) struct Link {
    stream: StanzaStream,
    csi: Arc<Csi>,
    /// Our server's domain, which answers the pings that flush a CSI change.
    domain: String,
    /// The account: the only bare JID a session may be bound to.
    account: BareJid,
    establisher: Arc<Establisher>,
    shutdown: Arc<watch::Sender<bool>>,
    /// `Retrying` and `Closed(Some(reason))` from the reconnect loop.
    reports: mpsc::UnboundedReceiver<LinkEvent>,
}

impl Link {
    /// Starts connecting in the background; progress arrives through
    /// [`Link::next`].
    pub(crate) fn open(
        config: &ClientConfig,
        jid: &Jid,
        network: watch::Receiver<bool>,
        dns: watch::Receiver<DnsServers>,
        password: watch::Receiver<String>,
        memory: Arc<dyn LoginMemory>,
    ) -> Result<Self, Error> {
        let connector = Connector::new(config, jid, dns)?;
        let csi = connector.csi.clone();
        let shutdown = Arc::new(watch::Sender::new(false));
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let establisher = Arc::new(Establisher {
            jid: jid.clone(),
            resource: Resource::new(jid.clone()),
            password,
            allow_plain: config.allow_plain,
            memory,
            connector,
            timeouts: Timeouts {
                read_timeout: config.keepalive_idle,
                response_timeout: config.keepalive_timeout,
            },
            connect_timeout: config.connect_timeout,
            min_delay: config.min_retry_delay,
            max_delay: config.max_retry_delay,
            network,
            shutdown: shutdown.clone(),
            reports: reports_tx,
            streak: Default::default(),
            quick_start: AtomicBool::new(true),
        });
        let progress = establisher.clone();
        let reconnector: Reconnector = Box::new(move |previous: Reconnect, slot| {
            let mut resume = previous.resume;
            let memory = establisher.memory.as_ref();
            if establisher
                .resource
                .taken(previous.stream_error.as_ref(), memory)
            {
                resume = None;
            }
            tokio::spawn(establisher.clone().run(slot, resume));
        });
        Ok(Self {
            stream: StanzaStream::new_resumable(reconnector, QUEUE_DEPTH),
            csi,
            domain: jid.domain().to_string(),
            account: jid.to_bare(),
            establisher: progress,
            shutdown,
            reports,
        })
    }

    /// The next thing that happened. After `Closed`, the link is finished.
    pub(crate) async fn next(&mut self) -> LinkEvent {
        tokio::select! {
            biased;
            Some(report) = self.reports.recv() => report,
            ev = self.stream.next() => match ev {
                None => LinkEvent::Closed(None),
                Some(StreamEvent0::Stream(StreamEvent::Reset { bound_jid, features })) => {
                    if bound_jid.to_bare() != self.account {
                        // A server may pick our resource, never our account.
                        tracing::error!(%bound_jid, "the server bound another account");
                        self.shutdown.send_replace(true);
                        return LinkEvent::Closed(Some(FailureReason::Authentication {
                            detail: format!(
                                "the server bound this session to {}, not to {}: \
                                 not the account's server",
                                bound_jid.to_bare(),
                                self.account
                            ),
                        }));
                    }
                    tracing::info!(%bound_jid, "new session");
                    self.establisher.streak.online();
                    // Armed only once the session has settled (see `settled`).
                    let acks = features.stream_management.is_some();
                    if !acks {
                        tracing::warn!("the server offers no stream management: sent stanzas are not acked");
                    }
                    let max_bytes = features
                        .limits
                        .as_ref()
                        .and_then(|l| l.max_bytes)
                        .map(|b| b.get());
                    LinkEvent::Online {
                        resumed: false,
                        acks,
                        max_bytes,
                    }
                }
                Some(StreamEvent0::Stream(StreamEvent::Resumed)) => {
                    tracing::info!("session resumed");
                    self.establisher.streak.online();
                    self.csi.arm();
                    if self.csi.is_inactive() {
                        // Nothing else may flush the stream after a resumption.
                        self.flush_csi().await;
                    }
                    // The limit of the session resumed still holds.
                    LinkEvent::Online {
                        resumed: true,
                        acks: true,
                        max_bytes: None,
                    }
                }
                Some(StreamEvent0::Stream(StreamEvent::Suspended)) => LinkEvent::Suspended,
                Some(StreamEvent0::Stanza(stanza)) => LinkEvent::Stanza(Box::new(stanza)),
            },
        }
    }

    /// A fresh session got the answers to its setup (roster, carbons,
    /// catch-up): its client state indication may go out now. Sent earlier,
    /// an `<inactive/>` makes Prosody hold answers it had already queued
    /// (it pauses writes), so a session started in the background would
    /// wait for the foreground to finish logging in.
    pub(crate) async fn settled(&self) {
        self.csi.arm();
        if self.csi.is_inactive() && self.csi.usable() {
            self.flush_csi().await;
        }
    }

    /// Queues a stanza; it goes out as soon as the link is up.
    pub(crate) async fn send(&self, stanza: impl Into<Stanza>) -> Delivery {
        Delivery(self.stream.send(Box::new(stanza.into())).await)
    }

    /// Tells the server whether the app is in the foreground (XEP-0352), now
    /// if online and on every later connection. Without server support it
    /// is remembered and never sent.
    pub(crate) async fn set_foreground(&self, active: bool) {
        if self.csi.set_inactive(!active) && self.csi.usable() {
            self.flush_csi().await;
        }
    }

    /// The indication goes out at the next flush of the stream; a ping to
    /// our server makes one (and its answer is ignored).
    async fn flush_csi(&self) {
        let Ok(to) = Jid::new(&self.domain) else {
            return;
        };
        let ping = Iq::from_get(format!("csi-{}", uuid::Uuid::new_v4()), Ping).with_to(to);
        let _ = self.send(ping).await;
    }

    /// Closes the stream cleanly (or abandons a pending connection attempt).
    pub(crate) async fn close(self) {
        self.shutdown.send_replace(true);
        // Bounded: tokio-xmpp waits up to 10 s for the server's goodbye.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(12), self.stream.close()).await;
    }
}

#[cfg(test)]
mod tests {
    use tokio_xmpp::minidom::Element;
    use tokio_xmpp::parsers::sm;

    /// Prosody answers a resumption of an unknown session with a bare
    /// `<failed/>`; it must parse (see vendor/README.md), or the stream
    /// retries the same resumption forever.
    #[test]
    fn sm_failed_without_h_parses() {
        let el: Element = "<failed xmlns='urn:xmpp:sm:3'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
            .parse()
            .expect("xml");
        let failed = sm::Failed::try_from(el).expect("bare <failed/> parses");
        assert_eq!(failed.h, None);
    }
}
