//! Push notifications (XEP-0357) on the wire: asking our server to notify
//! an app server (which wakes the phone through its platform's push
//! service) while this device has no live stream, and to stop.

use tokio_xmpp::jid::BareJid;
use tokio_xmpp::parsers::data_forms::{DataForm, DataFormType, Field, FieldType};
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::push::{Disable, Enable};

use crate::model::Secret;

/// XEP-0357 §5: credentials for the app server travel as publish options.
const PUBLISH_OPTIONS: &str = "http://jabber.org/protocol/pubsub#publish-options";

/// Enables notifications to `service`'s `node`, with the app server's
/// `secret` in every one of them.
pub(crate) fn enable(id: &str, service: BareJid, node: &str, secret: Option<&Secret>) -> Iq {
    let form = secret.map(|secret| {
        let mut field = Field::new("secret", FieldType::TextSingle);
        field.values = vec![secret.expose().to_owned()];
        DataForm::new(DataFormType::Submit, PUBLISH_OPTIONS, vec![field])
    });
    Iq::from_set(
        id,
        Enable {
            jid: service,
            node: Some(node.to_owned()),
            form,
        },
    )
}

/// Disables notifications to `service`'s `node`.
pub(crate) fn disable(id: &str, service: BareJid, node: &str) -> Iq {
    Iq::from_set(
        id,
        Disable {
            jid: service,
            node: Some(node.to_owned()),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_xmpp::minidom::Element;

    #[test]
    fn enable_carries_the_node_and_the_secret_as_publish_options() {
        let iq = enable(
            "e1",
            "push.example.org".parse().unwrap(),
            "n1",
            Some(&Secret::new("s3cret")),
        );
        let xml = String::from(&Element::from(iq));
        assert!(
            xml.contains("<enable xmlns='urn:xmpp:push:0' jid='push.example.org' node='n1'>")
                || xml.contains(
                    "<enable xmlns=\"urn:xmpp:push:0\" jid=\"push.example.org\" node=\"n1\">"
                ),
            "{xml}"
        );
        assert!(xml.contains(PUBLISH_OPTIONS), "{xml}");
        assert!(xml.contains("s3cret"), "{xml}");
        let off = String::from(&Element::from(disable(
            "d1",
            "push.example.org".parse().unwrap(),
            "n1",
        )));
        assert!(off.contains("disable") && off.contains("n1"), "{off}");
    }
}
