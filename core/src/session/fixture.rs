//! What every handler's unit tests start from: an empty in-memory store,
//! a hub, and the events it announces.

use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio_xmpp::jid::BareJid;

use crate::events::EventHub;
use crate::model::Event;
use crate::store::Store;

pub(super) const OWN: &str = "alice@example.test";

pub(super) struct Fixture {
    pub own: BareJid,
    pub store: Arc<Store>,
    pub hub: Arc<EventHub>,
    pub events: UnboundedReceiver<Event>,
}

pub(super) fn fixture() -> Fixture {
    let hub = Arc::new(EventHub::new());
    Fixture {
        own: OWN.parse().expect("jid"),
        store: Arc::new(Store::open_in_memory().expect("store")),
        events: hub.subscribe(),
        hub,
    }
}
