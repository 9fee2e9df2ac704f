//! The account's push registrations (XEP-0357) on our server: each fresh
//! session enables the one the app wants (a server drops a registration
//! after errors or forgets it with a restore) and disables those it
//! replaced or turned off; a change the app makes online goes at once.
//! The server's answers become [`Event::PushChanged`].

use std::sync::Arc;

use tokio_xmpp::jid::BareJid;
use tokio_xmpp::parsers::stanza_error::StanzaError;

use super::requests::{Out, Request};
use crate::events::EventHub;
use crate::model::Event;
use crate::push;
use crate::store::Store;

pub(crate) struct Push {
    store: Arc<Store>,
    hub: Arc<EventHub>,
}

impl Push {
    pub(crate) fn new(store: Arc<Store>, hub: Arc<EventHub>) -> Self {
        Push { store, hub }
    }

    /// Every registration to our server, as the app wants it now.
    pub(crate) fn requests(&self) -> Vec<Out> {
        let rows = match self.store.push_registrations() {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!("cannot read the push registrations: {e}");
                return Vec::new();
            }
        };
        rows.into_iter()
            .filter_map(|row| {
                let Ok(service) = row.service.parse::<BareJid>() else {
                    tracing::warn!(service = row.service, "push service is no JID: forgotten");
                    let _ = self.store.push_disabled(&row.service, &row.node);
                    return None;
                };
                let request = Request::Push {
                    service: row.service.clone(),
                    node: row.node.clone(),
                    enable: row.wanted,
                };
                Some(if row.wanted {
                    Out::ask(request, |id| {
                        push::enable(id, service, &row.node, row.secret.as_ref())
                    })
                } else {
                    Out::ask(request, |id| push::disable(id, service, &row.node))
                })
            })
            .collect()
    }

    /// Our server's answer about `service`/`node`.
    pub(crate) fn on_answer(
        &self,
        service: String,
        node: String,
        enable: bool,
        refused: Option<&StanzaError>,
    ) {
        let refused = refused.map(crate::inbound::error_reason);
        match (&refused, enable) {
            (Some(why), _) => tracing::warn!(%service, enable, "push request refused: {why}"),
            (None, true) => tracing::info!(%service, "push notifications enabled"),
            (None, false) => {
                tracing::info!(%service, "push notifications disabled");
                if let Err(e) = self.store.push_disabled(&service, &node) {
                    tracing::error!("cannot forget a push registration: {e}");
                }
            }
        }
        self.hub.emit(Event::PushChanged {
            service,
            node,
            enabled: enable && refused.is_none(),
            refused,
        });
    }
}
