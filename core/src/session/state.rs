//! What the app sees of the connection (the session is its one publisher
//! and the link only reports): how a link event reads as a state, and
//! whether the session loop goes on.

use crate::connection::LinkEvent;
use crate::events::EventHub;
use tokio::sync::oneshot;

use crate::model::ConnectionState;

/// The state between sessions: none is running (never started, closed, or
/// ended by a failure the app acknowledged by disconnecting).
pub(crate) fn idle(hub: &EventHub) {
    hub.set_state(ConnectionState::Disconnected);
}

/// What the app sees for a link event; `None` for a stanza. The session is
/// the one publisher of connection state.
pub(super) fn published(ev: &LinkEvent) -> Option<ConnectionState> {
    Some(match ev {
        LinkEvent::Online { resumed, .. } => ConnectionState::Online { resumed: *resumed },
        LinkEvent::Suspended => ConnectionState::Suspended,
        LinkEvent::Retrying { attempt, retry_in } => ConnectionState::Reconnecting {
            attempt: *attempt,
            retry_in: *retry_in,
        },
        LinkEvent::Closed(Some(reason)) => ConnectionState::Failed {
            reason: reason.clone(),
        },
        LinkEvent::Closed(None) => ConnectionState::Disconnected,
        LinkEvent::Stanza(_) => return None,
    })
}

/// Whether the session's loop goes on.
pub(super) enum Flow {
    Continue,
    /// Close the link and end; on a disconnect, then report `Disconnected`
    /// and answer.
    Close(Option<oneshot::Sender<()>>),
}
