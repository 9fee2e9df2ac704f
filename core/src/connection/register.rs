//! XEP-0077 in-band registration on the wire: one connection (TLS as for
//! a login, nothing sent before the certificate is verified), the
//! server's registration form read, the username and password sent.
//! Only the plain form is filled in; a server that asks for more (an
//! e-mail address, a CAPTCHA) or sends users to a web page is reported
//! with what it said, for the app to show.

use futures::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio_xmpp::jid::Jid;
use tokio_xmpp::minidom::rxml::xml_ncname;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::ns;
use tokio_xmpp::xmlstream::{initiate_stream, ReadError, Timeouts, XmlStream};
use tokio_xmpp::Error as XmppError;

use super::connector::{header, is_final, Connector, Secured};
use super::dns::DnsServers;
use crate::config::ClientConfig;
use crate::error::SignUpError;

const NS_REGISTER: &str = "jabber:iq:register";
const NS_DATA: &str = "jabber:x:data";
const NS_OOB: &str = "jabber:x:oob";

/// Fields of the plain form we can fill in; anything else asked for
/// needs the user (see the module doc).
const FILLED: [&str; 2] = ["username", "password"];

/// Creates `config.jid`'s account with `config.password`.
pub(crate) async fn register(config: &ClientConfig, jid: &Jid) -> Result<(), SignUpError> {
    let servers = DnsServers::parse(&config.dns_servers).map_err(SignUpError::from)?;
    let (_keep, dns) = watch::channel(servers);
    let connector = Connector::new(config, jid, dns).map_err(SignUpError::from)?;
    let timeouts = Timeouts {
        read_timeout: config.connect_timeout,
        response_timeout: config.connect_timeout,
    };
    let exchange = async {
        let (io, _) = connector
            .secure(jid, ns::JABBER_CLIENT, timeouts)
            .await
            .map_err(link_error)?;
        let pending = initiate_stream(io, ns::JABBER_CLIENT, header(jid, true), timeouts)
            .await
            .map_err(|e| link_error(e.into()))?;
        let (_, mut stream) = pending
            .recv_features::<Element>()
            .await
            .map_err(|e| link_error(e.into()))?;
        let form = ask(
            &mut stream,
            "reg-form",
            Element::builder("query", NS_REGISTER).build(),
        )
        .await?;
        check_form(&form)?;
        let user = jid.node().map(|n| n.as_str()).unwrap_or_default();
        let filled = Element::builder("query", NS_REGISTER)
            .append(Element::builder("username", NS_REGISTER).append(user))
            .append(Element::builder("password", NS_REGISTER).append(config.password.as_str()))
            .build();
        ask(&mut stream, "reg-submit", filled).await.map(drop)
    };
    tokio::time::timeout(config.connect_timeout, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(SignUpError::Network {
                reason: format!("no answer within {:?}", config.connect_timeout),
            })
        })
}

/// Sends an IQ (`get` for an empty query, else `set`) and returns the
/// query of its result, or the server's refusal as a [`SignUpError`].
async fn ask(
    stream: &mut XmlStream<Secured, Element>,
    id: &str,
    query: Element,
) -> Result<Element, SignUpError> {
    let kind = if query.children().next().is_some() {
        "set"
    } else {
        "get"
    };
    let iq = Element::builder("iq", ns::JABBER_CLIENT)
        .attr(xml_ncname!("type").into(), kind)
        .attr(xml_ncname!("id").into(), id)
        .append(query)
        .build();
    stream.send(&iq).await.map_err(|e| link_error(e.into()))?;
    loop {
        let el = match stream.next().await {
            Some(Ok(el)) => el,
            Some(Err(ReadError::SoftTimeout)) => continue,
            Some(Err(ReadError::HardError(e))) => return Err(link_error(e.into())),
            Some(Err(e)) => {
                return Err(SignUpError::Network {
                    reason: format!("{e:?}"),
                })
            }
            None => {
                return Err(SignUpError::Network {
                    reason: "the server closed the connection".into(),
                })
            }
        };
        if !el.is("iq", ns::JABBER_CLIENT) || el.attr("id") != Some(id) {
            continue;
        }
        return match el.attr("type") {
            Some("result") => Ok(el
                .get_child("query", NS_REGISTER)
                .cloned()
                .unwrap_or_else(|| Element::builder("query", NS_REGISTER).build())),
            _ => Err(refusal(&el)),
        };
    }
}

/// Whether we can fill in the server's form; if not, what it told users.
fn check_form(form: &Element) -> Result<(), SignUpError> {
    let url = form
        .get_child("x", NS_OOB)
        .and_then(|x| x.get_child("url", NS_OOB))
        .map(|u| u.text());
    let instructions = form
        .get_child("instructions", NS_REGISTER)
        .map(|i| i.text())
        .filter(|t| !t.trim().is_empty());
    let asks_more = form.get_child("x", NS_DATA).is_some_and(|x| {
        x.children().any(|f| {
            f.is("field", NS_DATA)
                && f.get_child("required", NS_DATA).is_some()
                && !f.attr("var").is_some_and(|v| FILLED.contains(&v))
        })
    }) || form.children().any(|c| {
        c.ns() == NS_REGISTER && !FILLED.contains(&c.name()) && c.name() != "instructions"
    });
    let offers_plain = FILLED
        .iter()
        .all(|f| form.get_child(f, NS_REGISTER).is_some());
    if asks_more || url.is_some() || !offers_plain {
        return Err(SignUpError::NotOffered { instructions, url });
    }
    Ok(())
}

/// An IQ error as the action an app can take.
fn refusal(iq: &Element) -> SignUpError {
    let error = iq.get_child("error", ns::JABBER_CLIENT);
    let condition = error
        .and_then(|e| {
            e.children()
                .find(|c| c.ns() == ns::XMPP_STANZAS && c.name() != "text")
        })
        .map(|c| c.name().to_owned())
        .unwrap_or_else(|| "undefined-condition".into());
    let text = error
        .and_then(|e| e.get_child("text", ns::XMPP_STANZAS))
        .map(|t| t.text());
    let reason = match &text {
        Some(t) => format!("{condition}: {t}"),
        None => condition.clone(),
    };
    match condition.as_str() {
        "conflict" => SignUpError::UsernameTaken,
        "resource-constraint" | "policy-violation" => SignUpError::TooSoon { reason },
        "not-acceptable" | "bad-request" | "jid-malformed" => SignUpError::Refused { reason },
        _ => SignUpError::NotOffered {
            instructions: text,
            url: None,
        },
    }
}

fn link_error(e: XmppError) -> SignUpError {
    if is_final(&e) {
        SignUpError::Certificate {
            reason: e.to_string(),
        }
    } else {
        SignUpError::Network {
            reason: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(xml: &str) -> Element {
        xml.parse().expect("xml")
    }

    #[test]
    fn the_plain_form_is_filled_and_anything_more_is_the_users() {
        let plain = el(
            "<query xmlns='jabber:iq:register'><instructions>Choose</instructions>\
             <username/><password/></query>",
        );
        assert_eq!(check_form(&plain), Ok(()));
        let email = el("<query xmlns='jabber:iq:register'><username/><password/><email/></query>");
        assert!(matches!(
            check_form(&email),
            Err(SignUpError::NotOffered { .. })
        ));
        let web = el(
            "<query xmlns='jabber:iq:register'><instructions>Go to the site</instructions>\
             <x xmlns='jabber:x:oob'><url>https://example.test/join</url></x></query>",
        );
        assert_eq!(
            check_form(&web),
            Err(SignUpError::NotOffered {
                instructions: Some("Go to the site".into()),
                url: Some("https://example.test/join".into()),
            })
        );
        let captcha = el("<query xmlns='jabber:iq:register'><username/><password/>\
             <x xmlns='jabber:x:data' type='form'><field var='username'><required/></field>\
             <field var='ocr'><required/></field></x></query>");
        assert!(matches!(
            check_form(&captcha),
            Err(SignUpError::NotOffered { .. })
        ));
    }

    #[test]
    fn refusals_become_what_the_app_can_do() {
        let iq = |condition: &str| {
            el(&format!(
                "<iq xmlns='jabber:client' type='error' id='x'><error type='cancel'>\
                 <{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
                 <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>why</text></error></iq>"
            ))
        };
        assert_eq!(refusal(&iq("conflict")), SignUpError::UsernameTaken);
        assert!(
            matches!(refusal(&iq("not-acceptable")), SignUpError::Refused { reason } if reason == "not-acceptable: why")
        );
        assert!(matches!(
            refusal(&iq("resource-constraint")),
            SignUpError::TooSoon { .. }
        ));
        assert!(matches!(
            refusal(&iq("not-allowed")),
            SignUpError::NotOffered { .. }
        ));
    }
}
