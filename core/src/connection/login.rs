//! One login: TLS, then the fastest authentication the server allows.
//!
//! 1. With a FAST token (XEP-0484) from an earlier login, the stream
//!    header and the token's `<authenticate/>` go out in one flight,
//!    without waiting for the server's features: with Bind2 and inline
//!    resumption in it, a reconnect is online after TCP, TLS and this one
//!    round trip. A refused token is forgotten and the password used on
//!    the same connection.
//! 2. With SASL2 + Bind2 (XEP-0388/0386): the password exchange binds the
//!    session (or resumes the lost one) and asks for a FAST token.
//! 3. Otherwise the classic RFC 6120 login ([`super::sasl`]); tokio-xmpp's
//!    stream then binds and enables or resumes stream management itself.

use std::sync::atomic::Ordering;
use tokio_xmpp::jid::Jid;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::ns;
use tokio_xmpp::parsers::sm::StreamManagement;
use tokio_xmpp::parsers::stream_features::StreamFeatures;
use tokio_xmpp::stanzastream::{Connection, Negotiated, ResumeInfo};

use tokio_xmpp::xmlstream::{
    initiate_stream, initiate_stream_with, FallibleStreamElement, XmlStream,
};
use tokio_xmpp::Error as XmppError;

use super::binding::TlsBinding;
use super::connector::{header, Secured};
use super::establish::Establisher;
use super::fast::{self, HtSha256};
use super::memory::FastToken;
use super::sasl::{self, Boxed, Choice};
use super::sasl2::{self, Done, Offer, Refusal, Request};
use super::ssdp::Ssdp;
use super::verdicts::DowngradeRefused;

type Stream = XmlStream<Secured, Element>;

impl Establisher {
    /// An authenticated stream, bound and with stream management already
    /// negotiated when SASL2 did it (see [`Connection::negotiated`]).
    pub(super) async fn login(&self, resume: Option<&ResumeInfo>) -> Result<Connection, XmppError> {
        let (io, binding) = self
            .connector
            .secure(&self.jid, ns::JABBER_CLIENT, self.timeouts)
            .await?;
        let now = chrono::Utc::now().timestamp();
        let token = self
            .memory
            .fast_token()
            .filter(|t| fast::usable(t, now))
            .and_then(|t| {
                let cb = fast::proof_binding(&t, &binding)?.to_vec();
                Some((t, cb))
            });
        let head = header(&self.jid, true);
        let quick = token.is_some() && self.quick_start.load(Ordering::Relaxed);
        let (features, mut stream, sent) = if let (true, Some((token, cb))) = (quick, &token) {
            let (ht, first) = self.token_request(token, cb, resume);
            let pending =
                initiate_stream_with(io, ns::JABBER_CLIENT, head, &first, self.timeouts).await?;
            let (features, stream) = pending.recv_features::<Element>().await?;
            (features, stream, Some(ht))
        } else {
            let pending = initiate_stream(io, ns::JABBER_CLIENT, head, self.timeouts).await?;
            let (features, stream) = pending.recv_features::<Element>().await?;
            (features, stream, None)
        };
        let Some(offer) = Offer::from_features(&features) else {
            if sent.is_some() {
                // The server changed and will not understand what we sent:
                // read its features first from now on.
                self.quick_start.store(false, Ordering::Relaxed);
                return Err(std::io::Error::other(
                    "the server no longer offers SASL2; reading its features first next time",
                )
                .into());
            }
            return self.classic(stream.retype(), features, &binding).await;
        };
        let attempt = match (sent, &token) {
            // Quick start: the token's <authenticate/> is already out.
            (Some(ht), _) => Some(ht),
            (None, Some((token, cb))) if offer.fast.contains(&token.mechanism) => {
                let (ht, first) = self.token_request(token, cb, resume);
                futures::SinkExt::send(&mut stream, &first).await?;
                Some(ht)
            }
            _ => None,
        };
        let done = match attempt {
            Some(ht) => match self.conclude(&mut stream, ht, None, None).await {
                Ok(done) => {
                    tracing::debug!("logged in with the FAST token");
                    self.quick_start.store(true, Ordering::Relaxed);
                    Ok(done)
                }
                Err(Refusal::Failed(condition, _)) => {
                    tracing::info!(
                        "the server refused the FAST token ({condition:?}); using the password"
                    );
                    self.memory.forget_fast_token();
                    self.with_password(&mut stream, &offer, resume, &binding, true)
                        .await
                }
                Err(broken) => Err(broken),
            },
            None => {
                self.with_password(&mut stream, &offer, resume, &binding, false)
                    .await
            }
        };
        let done = done.map_err(Refusal::into_error)?;
        self.hand_over(stream, done, features, &offer)
    }

    /// The FAST `<authenticate/>` for `token`, and the mechanism that checks
    /// the server's answer. It assumes what the server offered when it
    /// issued the token (SASL2, Bind2, stream management, carbons): a
    /// quick start sends it before the features say so.
    fn token_request(
        &self,
        token: &FastToken,
        cb: &[u8],
        resume: Option<&ResumeInfo>,
    ) -> (Boxed, Element) {
        let mut ht: Boxed = Box::new(HtSha256::new(self.username(), token, cb));
        let first = sasl2::authenticate(
            &token.mechanism,
            ht.initial(),
            &Request {
                agent_id: &self.memory.agent_id(),
                tag: self.bind_tag(),
                resume,
                sm: true,
                carbons: true,
                with_token: true,
                request_token: None,
            },
        );
        (ht, first)
    }

    /// `token_for`: the FAST mechanism a token the server issues is for
    /// (`None`: the one logging in, a token rotated by a FAST login);
    /// `ssdp`: what the server offered, for a SCRAM login (XEP-0474).
    async fn conclude(
        &self,
        stream: &mut Stream,
        mechanism: Boxed,
        token_for: Option<&str>,
        ssdp: Option<&Ssdp>,
    ) -> Result<Done, Refusal> {
        let bound = self.bind_tag().is_some();
        let token_for = token_for.unwrap_or(mechanism.name()).to_owned();
        sasl2::conclude(
            stream,
            mechanism,
            &self.jid.to_bare(),
            &token_for,
            bound,
            ssdp,
        )
        .await
    }

    /// The password over SASL2, asking for a FAST token when the server
    /// offers FAST and the link can bind it; `retry`: after a refused token
    /// on the same stream.
    async fn with_password(
        &self,
        stream: &mut Stream,
        offer: &Offer,
        resume: Option<&ResumeInfo>,
        tls: &TlsBinding,
        retry: bool,
    ) -> Result<Done, Refusal> {
        let offered = offer.mechanisms.iter().cloned().collect();
        let binding = &tls.pick(offer.channel_bindings.as_ref());
        let (choice, pinned) = self.choose(&offered, binding)?;
        let server_binds = offered.iter().any(|m: &String| m.ends_with("-PLUS"));
        let password = self.password.borrow().clone();
        let mut mechanism =
            sasl::mechanism(choice, self.username(), &password, binding, server_binds)?;
        let request_token = fast::to_request(&offer.fast, tls);
        let auth = sasl2::authenticate(
            choice.name(),
            mechanism.initial(),
            &Request {
                agent_id: &self.memory.agent_id(),
                tag: self.bind_tag(),
                resume,
                sm: offer.sm,
                carbons: offer.carbons,
                with_token: false,
                request_token,
            },
        );
        futures::SinkExt::send(&mut *stream, &auth).await?;
        let mut ssdp = Ssdp::new(&offer.mechanisms, offer.channel_bindings.as_ref());
        if retry {
            ssdp = ssdp.after_a_failure();
        }
        let done = self
            .conclude(stream, mechanism, request_token, Some(&ssdp))
            .await?;
        self.raise_pin(pinned.as_deref(), choice);
        Ok(done)
    }

    /// Hands a SASL2-negotiated stream to tokio-xmpp's stanza stream,
    /// keeping a new FAST token first (before the session reports online).
    /// `features` are those before authentication (the stream limit holds
    /// for the whole stream).
    fn hand_over(
        &self,
        stream: Stream,
        done: Done,
        mut features: StreamFeatures,
        offer: &Offer,
    ) -> Result<Connection, XmppError> {
        if let Some(token) = &done.token {
            if !self.memory.keep_fast_token(token) {
                tracing::warn!("could not keep the FAST token; the next login uses the password");
            }
        }
        let stream = stream.retype::<FallibleStreamElement>().box_stream();
        let Some(negotiated) = done.negotiated else {
            // No Bind2: tokio-xmpp binds and enables or resumes, as after
            // a classic login, with the features that followed <success/>.
            let mut trailing = done.features.unwrap_or_else(|| features.clone());
            // Prosody sends its stanza limit (XEP-0478) only with the
            // features at a stream's start; it holds for the whole stream.
            if trailing.limits.is_none() {
                trailing.limits = features.limits;
            }
            let features = trailing;
            self.note_csi(&features);
            return Ok(Connection {
                stream,
                features,
                identity: self.resource.identity(),
                negotiated: None,
            });
        };
        // Whether acks will come: stream management was enabled inline (or
        // a managed session resumed), whatever the trailing features say.
        features.stream_management = match &negotiated {
            Negotiated::Bound { sm: None, .. } => None,
            _ => Some(StreamManagement { optional: false }),
        };
        self.connector.csi.set_offered(offer.csi);
        let identity = match &negotiated {
            Negotiated::Bound { jid, .. } => Jid::from(jid.clone()),
            Negotiated::Resumed { .. } => self.jid.clone(),
        };
        Ok(Connection {
            stream,
            features,
            identity,
            negotiated: Some(negotiated),
        })
    }

    /// RFC 6120 SASL, then a stream restart; binding is left to tokio-xmpp.
    async fn classic(
        &self,
        stream: XmlStream<Secured, FallibleStreamElement>,
        features: StreamFeatures,
        tls: &TlsBinding,
    ) -> Result<Connection, XmppError> {
        let binding = &tls.pick(features.sasl_cb.as_ref());
        let (choice, pinned) = self
            .choose(&features.sasl_mechanisms, binding)
            .map_err(Refusal::into_error)?;
        tracing::debug!(mechanism = choice.name(), "authenticating");
        let password = self.password.borrow().clone();
        let stream = sasl::authenticate(
            stream,
            choice,
            &features.sasl_mechanisms,
            self.username(),
            &password,
            binding,
            &Ssdp::new(&features.sasl_mechanisms, features.sasl_cb.as_ref()),
        )
        .await?;
        self.raise_pin(pinned.as_deref(), choice);
        let stream = stream.send_header(header(&self.jid, true)).await?;
        let (features, stream) = stream.recv_features::<FallibleStreamElement>().await?;
        self.note_csi(&features);
        Ok(Connection {
            stream: stream.box_stream(),
            features,
            identity: self.resource.identity(),
            negotiated: None,
        })
    }

    /// Our mechanism among `offered`, refused if weaker than the pin.
    fn choose(
        &self,
        offered: &std::collections::BTreeSet<String>,
        binding: &::sasl::common::ChannelBinding,
    ) -> Result<(Choice, Option<String>), Refusal> {
        let can_bind = !matches!(binding, ::sasl::common::ChannelBinding::None);
        let choice = sasl::choose(offered, can_bind, self.allow_plain)
            .map_err(|reason| Refusal::Broken(sasl::refuse(reason)))?;
        // Fail closed, and retry: the store may be readable next time.
        let pinned = self.memory.pinned().map_err(|e| {
            Refusal::Broken(XmppError::Io(std::io::Error::other(format!(
                "cannot read which login this account proved before ({e}): \
                 not logging in until it can be checked"
            ))))
        })?;
        if let Some(pinned) = pinned.as_deref() {
            if sasl::is_downgrade(pinned, choice) {
                return Err(Refusal::Broken(XmppError::from(DowngradeRefused(format!(
                    "this account logged in with {pinned} before, and the server now offers \
                     only {}: someone may be stripping the stronger mechanisms",
                    choice.name()
                )))));
            }
        }
        Ok((choice, pinned))
    }

    fn raise_pin(&self, pinned: Option<&str>, choice: Choice) {
        if let Some(stronger) = sasl::raised(pinned, choice) {
            self.memory.pin(&stronger);
        }
    }

    fn note_csi(&self, features: &StreamFeatures) {
        let csi = features.others.iter().any(|f| f.is("csi", ns::CSI));
        self.connector.csi.set_offered(csi);
    }

    /// The Bind2 tag, or `None` when the app configured an exact resource:
    /// Bind2 lets the server name the resource (`JabberKit~…`, stable per
    /// installation), so a chosen one needs the classic bind, two round
    /// trips more.
    fn bind_tag(&self) -> Option<&'static str> {
        self.jid.resource().is_none().then_some(sasl2::TAG)
    }

    fn username(&self) -> &str {
        self.jid.node().map(|n| n.as_str()).unwrap_or_default()
    }
}
