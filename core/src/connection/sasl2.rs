//! XEP-0388 SASL2 with XEP-0386 Bind2, inline XEP-0198 and XEP-0484 FAST:
//! one `<authenticate/>` authenticates, binds a session (with stream
//! management enabled) or resumes the lost one, and asks for a FAST token.
//! No stream restart and no separate bind or enable round trips follow.
//!
//! The same policy as the classic step ([`super::sasl`]) applies: the
//! mechanism is chosen and pinned the same way, and the server's final
//! proof (SCRAM `v=`, or FAST's responder HMAC) must match.

use std::io;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncBufRead, AsyncWrite};
use tokio_xmpp::error::AuthError;
use tokio_xmpp::jid::{BareJid, FullJid, Jid};
use tokio_xmpp::minidom::rxml::xml_ncname;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::fast::Token;
use tokio_xmpp::parsers::sasl::DefinedCondition;
use tokio_xmpp::parsers::sasl2::{Authentication, Success};
use tokio_xmpp::parsers::sasl_cb::SaslChannelBinding;
use tokio_xmpp::parsers::sm;
use tokio_xmpp::parsers::stream_features::StreamFeatures;
use tokio_xmpp::parsers::{ns, sasl2};
use tokio_xmpp::stanzastream::{Negotiated, ResumeInfo};
use tokio_xmpp::xmlstream::{ReadError, XmlStream};
use tokio_xmpp::Error as XmppError;

use super::memory::FastToken;
use super::sasl::{answer, impostor, refuse, Boxed};
use super::ssdp::Ssdp;

const CARBONS: &str = "urn:xmpp:carbons:2";
const STREAMS: &str = "http://etherx.jabber.org/streams";
/// The Bind2 tag: the server shows it in our resource (`JabberKit~…`).
pub(super) const TAG: &str = "JabberKit";

/// What the server offers before authentication, from its `<authentication/>`.
pub(super) struct Offer {
    pub mechanisms: Vec<String>,
    /// Stream management can be enabled in the bind request and a session
    /// resumed inline.
    pub sm: bool,
    /// Carbons can be enabled in the bind request.
    pub carbons: bool,
    /// Client state indication (XEP-0352) is offered to bound sessions.
    pub csi: bool,
    /// FAST mechanisms offered, if any.
    pub fast: Vec<String>,
    /// The channel-binding types the server checks, if it lists them
    /// (XEP-0440).
    pub channel_bindings: Option<SaslChannelBinding>,
}

impl Offer {
    pub(super) fn from_features(features: &StreamFeatures) -> Option<Self> {
        let auth: &Authentication = features.sasl2.as_ref()?;
        let inline = auth.inline.as_ref();
        // Without Bind2 there is nothing to gain over the classic login.
        let bind_features = &inline.and_then(|i| i.bind2.as_ref())?.inline_features;
        let fast = inline
            .into_iter()
            .flat_map(|i| i.payloads.iter())
            .filter(|p| p.is("fast", ns::FAST))
            .flat_map(|p| p.children().filter(|c| c.is("mechanism", ns::FAST)))
            .map(|m| m.text())
            .collect();
        Some(Self {
            mechanisms: auth.mechanisms.clone(),
            sm: inline.is_some_and(|i| i.sm.is_some()) && bind_features.iter().any(|f| f == ns::SM),
            carbons: bind_features.iter().any(|f| f == CARBONS),
            csi: bind_features.iter().any(|f| f == ns::CSI),
            fast,
            channel_bindings: features.sasl_cb.clone(),
        })
    }
}

/// What goes into one `<authenticate/>` besides the mechanism.
pub(super) struct Request<'a> {
    pub agent_id: &'a str,
    /// Bind2: the server binds a session named after `tag` and this
    /// installation. `None` when the app asked for an exact resource,
    /// which only the classic bind after the login can give.
    pub tag: Option<&'a str>,
    /// Resume this session inline (if the server can); a fresh session is
    /// bound if it cannot.
    pub resume: Option<&'a ResumeInfo>,
    pub sm: bool,
    pub carbons: bool,
    /// Log in with the FAST token (the mechanism is HT-*).
    pub with_token: bool,
    /// Ask for a FAST token for this mechanism.
    pub request_token: Option<&'a str>,
}

pub(super) fn authenticate(mechanism: &str, initial: Vec<u8>, req: &Request<'_>) -> Element {
    let agent = Element::builder("user-agent", ns::SASL2)
        .attr(xml_ncname!("id").into(), req.agent_id)
        .append(Element::builder("software", ns::SASL2).append(TAG).build())
        .build();
    let mut auth = Element::builder("authenticate", ns::SASL2)
        .attr(xml_ncname!("mechanism").into(), mechanism)
        .append(
            Element::builder("initial-response", ns::SASL2)
                .append(base64(&initial))
                .build(),
        )
        .append(agent);
    if let Some(tag) = req.tag {
        let mut bind = Element::builder("bind", ns::BIND2)
            .append(Element::builder("tag", ns::BIND2).append(tag).build());
        if req.carbons {
            bind = bind.append(Element::builder("enable", CARBONS).build());
        }
        if req.sm {
            bind = bind.append(
                Element::builder("enable", ns::SM)
                    .attr(xml_ncname!("resume").into(), "true")
                    .build(),
            );
        }
        auth = auth.append(bind.build());
    }
    if let (Some(resume), true, Some(_)) = (req.resume, req.sm, req.tag) {
        auth = auth.append(
            Element::builder("resume", ns::SM)
                .attr(xml_ncname!("previd").into(), resume.id.as_str())
                .attr(xml_ncname!("h").into(), resume.h.to_string())
                .build(),
        );
    }
    if req.with_token {
        auth = auth.append(Element::builder("fast", ns::FAST).build());
    }
    if let Some(mechanism) = req.request_token {
        auth = auth.append(
            Element::builder("request-token", ns::FAST)
                .attr(xml_ncname!("mechanism").into(), mechanism)
                .build(),
        );
    }
    auth.build()
}

fn base64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// How an exchange ended short of success.
#[derive(Debug)]
pub(super) enum Refusal {
    /// The server said `<failure/>`: the stream stays usable for another
    /// `<authenticate/>` (e.g. with the password after a refused token).
    Failed(DefinedCondition, Option<String>),
    /// Anything else: the connection is done.
    Broken(XmppError),
}

impl From<XmppError> for Refusal {
    fn from(e: XmppError) -> Self {
        Refusal::Broken(e)
    }
}

impl From<io::Error> for Refusal {
    fn from(e: io::Error) -> Self {
        Refusal::Broken(e.into())
    }
}

/// A successful exchange.
pub(super) struct Done {
    /// The session, if Bind2 bound or resumed one; `None` without Bind2.
    pub negotiated: Option<Negotiated>,
    /// Without Bind2, the features that follow `<success/>` (binding is
    /// still to be done, by tokio-xmpp).
    pub features: Option<StreamFeatures>,
    /// A FAST token it issued (for `token_mechanism`).
    pub token: Option<FastToken>,
}

/// Runs the exchange after `<authenticate/>` was sent: challenges and the
/// verified `<success/>`. With Bind2 (`bound`), the stream features the
/// server sends after it may follow the first stanzas of a resumed session
/// (Prosody), so they are left to the stanza stream (which ignores them):
/// what they would say is known from the features before authentication.
/// Without, nothing else comes first and they are read here.
pub(super) async fn conclude<S: AsyncBufRead + AsyncWrite + Unpin>(
    stream: &mut XmlStream<S, Element>,
    mut mechanism: Boxed,
    account: &BareJid,
    token_mechanism: &str,
    bound: bool,
    ssdp: Option<&Ssdp>,
) -> Result<Done, Refusal> {
    let success = loop {
        let el = next(stream).await?;
        if el.is("challenge", ns::SASL2) {
            let challenge = sasl2::Challenge::try_from(el).map_err(malformed)?;
            let (back, response) = answer(mechanism, challenge.sasl_data, ssdp).await?;
            mechanism = back;
            let response = Element::builder("response", ns::SASL2)
                .append(base64(&response))
                .build();
            stream.send(&response).await?;
        } else if el.is("success", ns::SASL2) {
            break Success::try_from(el).map_err(malformed)?;
        } else if el.is("failure", ns::SASL2) {
            return Err(failure(&el));
        } else if el.is("continue", ns::SASL2) {
            return Err(Refusal::Broken(refuse(
                "the server asks for further login steps (e.g. a second factor), \
                 which this client cannot do",
            )));
        } else {
            return Err(unexpected(&el));
        }
    };
    // SCRAM's `v=` or FAST's responder proof: without it, an impostor.
    mechanism
        .success(success.additional_data.as_deref().unwrap_or_default())
        .map_err(impostor)?;
    let (negotiated, token) = interpret(success, account, token_mechanism, bound)?;
    let features = if bound {
        None
    } else {
        let el = next(stream).await?;
        if !el.is("features", STREAMS) {
            return Err(unexpected(&el));
        }
        Some(StreamFeatures::try_from(el).map_err(malformed)?)
    };
    Ok(Done {
        negotiated,
        features,
        token,
    })
}

/// The session the `<success/>` reports: resumed, or bound (with stream
/// management if it was enabled), and a FAST token if one came.
fn interpret(
    success: Success,
    account: &BareJid,
    token_mechanism: &str,
    bound: bool,
) -> Result<(Option<Negotiated>, Option<FastToken>), Refusal> {
    let jid = success.authorization_identifier;
    if jid.to_bare() != *account {
        return Err(Refusal::Broken(refuse(format!(
            "the server logged this session in as {}, not as {account}: not the account's server",
            jid.to_bare()
        ))));
    }
    let (mut bound_answer, mut resumed, mut token) = (None, None, None);
    for p in success.payloads {
        if p.is("bound", ns::BIND2) {
            let enabled = p
                .get_child("enabled", ns::SM)
                .map(|e| sm::Enabled::try_from(e.clone()))
                .transpose()
                .map_err(malformed)?;
            bound_answer = Some(enabled);
        } else if p.is("resumed", ns::SM) {
            resumed = Some(sm::Resumed::try_from(p).map_err(malformed)?.h);
        } else if p.is("failed", ns::SM) {
            tracing::info!("the server could not resume the session; a new one was bound");
        } else if p.is("failed", ns::BIND2) {
            return Err(Refusal::Broken(
                io::Error::other("the server authenticated us but could not bind a session").into(),
            ));
        } else if p.is("token", ns::FAST) {
            let t = Token::try_from(p).map_err(malformed)?;
            token = Some(FastToken {
                mechanism: token_mechanism.to_owned(),
                secret: t.token,
                expiry: t.expiry.0.timestamp(),
            });
        }
    }
    let negotiated = match (resumed, bound_answer, bound) {
        (Some(h), _, _) => Some(Negotiated::Resumed { h }),
        (None, Some(sm), _) => Some(Negotiated::Bound {
            jid: full(jid)?,
            sm,
        }),
        (None, None, false) => None,
        (None, None, true) => {
            return Err(Refusal::Broken(
                io::Error::other("the server authenticated us but bound no session").into(),
            ))
        }
    };
    Ok((negotiated, token))
}

fn full(jid: Jid) -> Result<FullJid, Refusal> {
    jid.try_into_full().map_err(|bare| {
        Refusal::Broken(
            io::Error::other(format!("the server bound {bare} without a resource")).into(),
        )
    })
}

fn failure(el: &Element) -> Refusal {
    let condition = el
        .children()
        .find(|c| c.ns() == ns::SASL)
        .and_then(|c| DefinedCondition::try_from(c.clone()).ok())
        .unwrap_or(DefinedCondition::NotAuthorized);
    let text = el.get_child("text", ns::SASL2).map(|t| t.text());
    Refusal::Failed(condition, text)
}

impl Refusal {
    /// As the classic login reports it (fatal unless temporary).
    pub(super) fn into_error(self) -> XmppError {
        match self {
            Refusal::Failed(condition, text) => {
                if let Some(text) = text {
                    tracing::warn!("login refused ({condition:?}): {text}");
                }
                XmppError::Auth(AuthError::Fail(condition))
            }
            Refusal::Broken(e) => e,
        }
    }
}

async fn next<S: AsyncBufRead + AsyncWrite + Unpin>(
    stream: &mut XmlStream<S, Element>,
) -> Result<Element, Refusal> {
    loop {
        match stream.next().await {
            Some(Ok(el)) if el.is("error", STREAMS) => {
                return Err(Refusal::Broken(
                    io::Error::other(format!("stream error during login: {}", describe(&el)))
                        .into(),
                ))
            }
            Some(Ok(el)) => return Ok(el),
            Some(Err(ReadError::SoftTimeout)) => continue,
            Some(Err(ReadError::HardError(e))) => return Err(e.into()),
            Some(Err(ReadError::ParseError(e))) => {
                return Err(io::Error::new(io::ErrorKind::InvalidData, e).into())
            }
            Some(Err(ReadError::StreamFooterReceived)) | None => {
                return Err(Refusal::Broken(XmppError::Disconnected))
            }
        }
    }
}

fn describe(el: &Element) -> String {
    el.children()
        .map(|c| c.name().to_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

fn unexpected(el: &Element) -> Refusal {
    Refusal::Broken(
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "unexpected <{} xmlns='{}'/> during login",
                el.name(),
                el.ns()
            ),
        )
        .into(),
    )
}

fn malformed(e: impl std::fmt::Display) -> Refusal {
    Refusal::Broken(
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("malformed login answer: {e}"),
        )
        .into(),
    )
}
