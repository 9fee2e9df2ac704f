//! What this client is and can do (XEP-0030 service discovery), and its
//! hash, carried in our presence (XEP-0115 entity capabilities). Servers
//! send PEP notifications only to devices whose capabilities ask for them
//! (`…+notify`): that is how bookmarks changed on another device reach
//! this one. Peers read it to know we send receipts and markers.

use std::sync::LazyLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use tokio_xmpp::jid::Jid;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::caps::{self, Caps};
use tokio_xmpp::parsers::disco::{DiscoInfoQuery, DiscoInfoResult, Identity};
use tokio_xmpp::parsers::hashes::Algo;
use tokio_xmpp::parsers::iq::Iq;

/// Names the software in the capabilities (a URI, XEP-0115 §4).
pub(crate) const NODE: &str = "https://jabberkit.org/caps";

/// Everything we understand, sorted as a set: changing it changes the hash.
const FEATURES: &[&str] = &[
    "http://jabber.org/protocol/caps",
    "http://jabber.org/protocol/chatstates",
    "http://jabber.org/protocol/disco#info",
    "http://jabber.org/protocol/muc",
    "jabber:x:conference",
    "urn:xmpp:bookmarks:1+notify",
    "urn:xmpp:chat-markers:0",
    "urn:xmpp:message-correct:0",
    "urn:xmpp:ping",
    "urn:xmpp:receipts",
    "urn:xmpp:sid:0",
];

static INFO: LazyLock<DiscoInfoResult> = LazyLock::new(|| DiscoInfoResult {
    node: None,
    identities: vec![Identity::new("client", "phone", "en", "JabberKit")],
    features: FEATURES.iter().map(|f| (*f).to_owned()).collect(),
    extensions: Vec::new(),
});

static CAPS: LazyLock<Caps> = LazyLock::new(|| {
    let hash =
        caps::hash_caps(&caps::compute_disco(&INFO), Algo::Sha_1).expect("SHA-1 is supported");
    Caps::new(NODE, hash)
});

/// The `<c/>` element our presence carries.
pub(crate) fn caps() -> Caps {
    CAPS.clone()
}

/// The answer to a disco#info query from `from`, if `payload` is one
/// (about us, or about our capabilities' `node#ver`).
pub(crate) fn answer(from: Option<Jid>, id: &str, payload: &Element) -> Option<Iq> {
    let query = DiscoInfoQuery::try_from(payload.clone()).ok()?;
    let ours = format!("{NODE}#{}", STANDARD.encode(&CAPS.ver));
    let reply = match query.node {
        None => INFO.clone(),
        Some(node) if node == ours => DiscoInfoResult {
            node: Some(node),
            ..INFO.clone()
        },
        Some(_) => return None,
    };
    let mut iq = Iq::from_result(id, Some(reply));
    if let Some(from) = from {
        iq = iq.with_to(from);
    }
    Some(iq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disco_query_about_us_or_our_caps_node_is_answered() {
        let query: Element = "<query xmlns='http://jabber.org/protocol/disco#info'/>"
            .parse()
            .expect("xml");
        let from: Jid = "example.test".parse().expect("jid");
        let Some(Iq::Result {
            payload: Some(p),
            to,
            ..
        }) = answer(Some(from.clone()), "1", &query)
        else {
            panic!("not answered");
        };
        assert_eq!(to, Some(from));
        let info = DiscoInfoResult::try_from(p).expect("disco#info");
        assert!(info.features.contains("urn:xmpp:bookmarks:1+notify"));
        // The hash in our presence names exactly this answer.
        let ver = STANDARD.encode(caps().ver);
        let node: Element =
            format!("<query xmlns='http://jabber.org/protocol/disco#info' node='{NODE}#{ver}'/>")
                .parse()
                .expect("xml");
        assert!(answer(None, "2", &node).is_some());
        let other: Element = "<query xmlns='http://jabber.org/protocol/disco#info' node='x#y'/>"
            .parse()
            .expect("xml");
        assert!(answer(None, "3", &other).is_none());
    }
}
