//! HTTP File Upload (XEP-0363) on the wire, pure and tested on raw XML:
//! finding our server's upload service, asking it for a slot, and reading
//! the slot it grants. The HTTP part is `transfer`; the session's handler
//! is `session::uploads`.

use tokio_xmpp::jid::Jid;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::disco::{DiscoInfoQuery, DiscoInfoResult, DiscoItemsQuery};
use tokio_xmpp::parsers::http_upload::SlotRequest;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::stanza_error::{DefinedCondition, StanzaError};

const NS: &str = "urn:xmpp:http:upload:0";

/// Our server's upload service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Service {
    pub jid: Jid,
    /// The largest file it takes, if it says.
    pub max_size: Option<u64>,
}

/// A granted slot: where to PUT the file (with these headers) and the
/// link others GET it from.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Slot {
    pub put: String,
    pub get: String,
    /// Only `Authorization`, `Cookie` and `Expires` (XEP-0363 §5), with
    /// no line breaks: a service cannot make us send other headers.
    pub headers: Vec<(&'static str, String)>,
}

impl std::fmt::Debug for Slot {
    // Header values are credentials for the upload.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("put", &self.put)
            .field("get", &self.get)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Why the service gave no slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The file is larger than the service takes (its limit, if said).
    TooLarge(Option<u64>),
    /// Try again later (quota, rate limit, a passing server problem).
    Later(String),
    /// Not for us (not allowed, unknown service, bad request).
    Refused(String),
}

/// Asks our server `domain` which services it has (disco#items).
pub(crate) fn items_query(id: &str, domain: Jid) -> Iq {
    Iq::from_get(
        id,
        DiscoItemsQuery {
            node: None,
            rsm: None,
        },
    )
    .with_to(domain)
}

/// Asks `jid` what it is (disco#info).
pub(crate) fn info_query(id: &str, jid: Jid) -> Iq {
    Iq::from_get(id, DiscoInfoQuery { node: None }).with_to(jid)
}

/// The services listed in a disco#items result.
pub(crate) fn items_of(payload: Option<Element>) -> Vec<Jid> {
    payload
        .and_then(|p| tokio_xmpp::parsers::disco::DiscoItemsResult::try_from(p).ok())
        .map(|r| r.items.into_iter().map(|i| i.jid).collect())
        .unwrap_or_default()
}

/// `jid` as an upload service, if its disco#info says it is one.
pub(crate) fn service_of(jid: Jid, payload: Option<Element>) -> Option<Service> {
    let info = DiscoInfoResult::try_from(payload?).ok()?;
    if !info.features.iter().any(|f| f == NS) {
        return None;
    }
    let max_size = info
        .extensions
        .iter()
        .filter(|form| form.form_type() == Some(NS))
        .flat_map(|form| &form.fields)
        .find(|field| field.var.as_deref() == Some("max-file-size"))
        .and_then(|field| field.values.first())
        .and_then(|v| v.trim().parse().ok());
    Some(Service { jid, max_size })
}

/// Asks `service` for a slot for a file.
pub(crate) fn slot_request(
    id: &str,
    service: Jid,
    name: &str,
    size: u64,
    mime_type: Option<&str>,
) -> Iq {
    Iq::from_get(
        id,
        SlotRequest {
            filename: name.to_owned(),
            size,
            content_type: mime_type.map(str::to_owned),
        },
    )
    .with_to(service)
}

/// The slot in a result; `None` if it is not one we can use (both links
/// must be HTTPS: plain HTTP would let the network read or swap the file).
pub(crate) fn slot_of(payload: Option<Element>) -> Option<Slot> {
    let slot = payload.filter(|p| p.is("slot", NS))?;
    let put = slot.get_child("put", NS)?;
    let get = slot.get_child("get", NS)?;
    let (put_url, get_url) = (put.attr("url")?, get.attr("url")?);
    if !put_url.starts_with("https://") || !get_url.starts_with("https://") {
        return None;
    }
    let headers = put
        .children()
        .filter(|h| h.is("header", NS))
        .filter_map(|h| {
            let name = match h.attr("name")?.to_ascii_lowercase().as_str() {
                "authorization" => "Authorization",
                "cookie" => "Cookie",
                "expires" => "Expires",
                _ => return None,
            };
            let value: String = h
                .text()
                .chars()
                .filter(|c| *c != '\r' && *c != '\n')
                .collect();
            Some((name, value))
        })
        .collect();
    Some(Slot {
        put: put_url.to_owned(),
        get: get_url.to_owned(),
        headers,
    })
}

/// What a refused slot request means.
pub(crate) fn refusal_of(error: &StanzaError) -> Refusal {
    let text = error
        .texts
        .values()
        .next()
        .cloned()
        .unwrap_or_else(|| format!("{:?}", error.defined_condition));
    let too_large = error.other.as_ref().filter(|e| e.is("file-too-large", NS));
    if let Some(e) = too_large {
        let max = e
            .get_child("max-file-size", NS)
            .and_then(|m| m.text().trim().parse().ok());
        return Refusal::TooLarge(max);
    }
    match error.defined_condition {
        DefinedCondition::ResourceConstraint
        | DefinedCondition::InternalServerError
        | DefinedCondition::ServiceUnavailable
        | DefinedCondition::RemoteServerTimeout => Refusal::Later(text),
        _ => Refusal::Refused(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(xml: &str) -> Element {
        xml.parse().expect("xml")
    }

    #[test]
    fn the_service_and_its_limit_come_from_disco_info() {
        let info = el("<query xmlns='http://jabber.org/protocol/disco#info'>\
            <identity category='store' type='file' name='HTTP File Upload'/>\
            <feature var='urn:xmpp:http:upload:0'/>\
            <x type='result' xmlns='jabber:x:data'>\
              <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:http:upload:0</value></field>\
              <field var='max-file-size'><value>5242880</value></field>\
            </x></query>");
        let jid: Jid = "upload.example.test".parse().unwrap();
        assert_eq!(
            service_of(jid.clone(), Some(info)),
            Some(Service {
                jid: jid.clone(),
                max_size: Some(5_242_880)
            })
        );
        let muc = el("<query xmlns='http://jabber.org/protocol/disco#info'>\
            <identity category='conference' type='text'/>\
            <feature var='http://jabber.org/protocol/muc'/></query>");
        assert_eq!(service_of(jid, Some(muc)), None);
    }

    #[test]
    fn a_slot_keeps_only_the_allowed_headers_without_line_breaks() {
        let slot = el("<slot xmlns='urn:xmpp:http:upload:0'>\
            <put url='https://up.example.test/f/a.jpg'>\
              <header name='Authorization'>Basic x\r\nX-Evil: 1</header>\
              <header name='Cookie'>c=1</header>\
              <header name='Host'>evil.example</header>\
            </put><get url='https://up.example.test/f/a.jpg'/></slot>");
        let slot = slot_of(Some(slot)).expect("slot");
        assert_eq!(slot.put, "https://up.example.test/f/a.jpg");
        assert_eq!(
            slot.headers,
            vec![
                ("Authorization", "Basic xX-Evil: 1".to_owned()),
                ("Cookie", "c=1".to_owned())
            ]
        );
        assert!(
            !format!("{slot:?}").contains("Basic"),
            "credentials in Debug"
        );
    }

    #[test]
    fn a_plain_http_slot_is_refused() {
        let slot = el("<slot xmlns='urn:xmpp:http:upload:0'>\
            <put url='http://up.example.test/f/a.jpg'/>\
            <get url='https://up.example.test/f/a.jpg'/></slot>");
        assert_eq!(slot_of(Some(slot)), None);
    }

    #[test]
    fn a_file_too_large_says_the_limit() {
        let error = StanzaError::try_from(el("<error xmlns='jabber:client' type='modify'>\
            <not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
            <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>File too large</text>\
            <file-too-large xmlns='urn:xmpp:http:upload:0'>\
              <max-file-size>20000</max-file-size></file-too-large></error>"))
        .expect("error");
        assert_eq!(refusal_of(&error), Refusal::TooLarge(Some(20000)));
        let quota = StanzaError::try_from(el("<error xmlns='jabber:client' type='wait'>\
            <resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
            <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Quota reached</text></error>"))
        .expect("error");
        assert_eq!(refusal_of(&quota), Refusal::Later("Quota reached".into()));
    }
}
