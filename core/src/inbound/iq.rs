//! IQ requests addressed to us.

use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::ping::Ping;
use tokio_xmpp::parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

/// The answer an IQ request needs (RFC 6120 §8.2.3: every get/set gets one).
pub(crate) fn answer_iq(iq: Iq) -> Option<Iq> {
    let (from, id, payload) = match iq {
        Iq::Get {
            from, id, payload, ..
        }
        | Iq::Set {
            from, id, payload, ..
        } => (from, id, payload),
        Iq::Result { .. } | Iq::Error { .. } => return None,
    };
    if let Some(reply) = crate::disco::answer(from.clone(), &id, &payload) {
        return Some(reply);
    }
    let reply = if Ping::try_from(payload).is_ok() {
        Iq::Result {
            from: None,
            to: from,
            id,
            payload: None,
        }
    } else {
        let mut error = Iq::from_error(
            id,
            StanzaError::new(
                ErrorType::Cancel,
                DefinedCondition::ServiceUnavailable,
                "en",
                "not supported",
            ),
        );
        if let Some(from) = from {
            error = error.with_to(from);
        }
        error
    };
    Some(reply)
}

#[cfg(test)]
mod tests {
    use tokio_xmpp::minidom::Element;

    use super::*;

    #[test]
    fn pings_are_answered_and_unknown_requests_refused() {
        let ping: Element = "<iq xmlns='jabber:client' type='get' id='p1' from='example.test'><ping xmlns='urn:xmpp:ping'/></iq>"
            .parse()
            .expect("xml");
        let reply = answer_iq(Iq::try_from(ping).expect("iq")).expect("reply");
        assert!(matches!(reply, Iq::Result { ref id, .. } if id == "p1"));
        let other: Element = "<iq xmlns='jabber:client' type='get' id='q1' from='example.test'><query xmlns='jabber:iq:version'/></iq>"
            .parse()
            .expect("xml");
        let reply = answer_iq(Iq::try_from(other).expect("iq")).expect("reply");
        assert!(matches!(reply, Iq::Error { .. }));
        let result: Element = "<iq xmlns='jabber:client' type='result' id='r1'/>"
            .parse()
            .expect("xml");
        assert!(answer_iq(Iq::try_from(result).expect("iq")).is_none());
    }
}
