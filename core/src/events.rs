//! What the core tells the app, and how it reaches every observer in order.
//!
//! Each observer gets its own unbounded queue, so a slow observer never
//! blocks the connection and never loses an event; events are pushed while a
//! short lock is held, but no observer code ever runs under it (observers
//! pull from their queue on their own task or thread).

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::error::FailureReason;
use crate::presence::Show;
use crate::store::{DeliveryState, StoredMessage};

/// Where the connection to the server stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Not connected, and not trying (before `connect()`, after
    /// `disconnect()`).
    Disconnected,
    /// The first connection attempt is running.
    Connecting,
    /// Online: messages flow. `resumed` is true when the previous session
    /// was resumed without loss (XEP-0198), false for a fresh session.
    Online {
        /// Whether the previous session was resumed.
        resumed: bool,
    },
    /// The link was lost; the session is held by the server for a while and
    /// JabberKit is reconnecting to resume it.
    Suspended,
    /// A connection attempt failed; the next one starts in `retry_in`
    /// (sooner if the app reports that the network came back).
    Reconnecting {
        /// How many attempts failed in a row.
        attempt: u32,
        /// Delay before the next attempt.
        retry_in: Duration,
    },
    /// Gave up for good; see [`FailureReason`]. Nothing is retried until
    /// the app calls `connect()` again.
    Failed {
        /// Why.
        reason: FailureReason,
    },
}

/// What a contact is doing in a conversation (XEP-0085 chat states).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypingState {
    /// Paying attention to the conversation.
    Active,
    /// Typing.
    Composing,
    /// Stopped typing for a moment.
    Paused,
    /// Not looking at the conversation.
    Inactive,
    /// Left the conversation.
    Gone,
}

/// One thing that happened, in the order it happened.
#[derive(Debug, Clone)]
pub enum Event {
    /// The connection state changed (a new subscriber gets the current state
    /// first).
    ConnectionState(ConnectionState),
    /// A message was stored (each announced once, ever): an incoming one,
    /// whether it reached this device directly or as a carbon of another of
    /// the account's devices; an outgoing one that `send` just queued; or
    /// one another device of the account sent (outgoing, already acked).
    Message(StoredMessage),
    /// An outgoing message moved on: sent, acked by the server, delivered
    /// to the recipient, read by the recipient, or failed.
    MessageState {
        /// The message's id, as returned by `send`.
        id: String,
        /// Its new state.
        state: DeliveryState,
    },
    /// A stored message's body was replaced by a correction from its
    /// sender (XEP-0308): ours from another device, or the peer's. Update
    /// the message in place (its id is unchanged); `corrected` is true.
    MessageCorrected(StoredMessage),
    /// Another device of the account displayed the conversation with
    /// `with` (XEP-0333): it is read here too, its unread count is 0.
    ConversationRead {
        /// The peer's bare JID.
        with: String,
    },
    /// A contact started or stopped typing. Not stored: it only matters now.
    Typing {
        /// The contact's bare JID.
        from: String,
        state: TypingState,
    },
    /// The contact list changed (a fetch, a server push, a request that
    /// arrived or was answered): re-read `Client::roster`. Bursts are not
    /// coalesced yet.
    RosterChanged,
    /// `from` asks to see our presence (RFC 6121). Nothing is answered
    /// automatically: the user decides with `Client::approve` or
    /// `Client::deny`. Also stored, as `Contact::pending_in`.
    SubscriptionRequest {
        /// The requester's bare JID.
        from: String,
    },
    /// A contact's availability changed (the best of its resources; see
    /// `Client::presence` for all of them). Also when a fresh session
    /// forgets the stale presence stored before it.
    Presence {
        /// The contact's bare JID.
        from: String,
        /// `None`: offline.
        show: Option<Show>,
        status: Option<String>,
    },
    /// Catching up from the server's archive after a fresh (not resumed)
    /// login progressed by one page. The messages themselves are announced
    /// as [`Event::Message`], once each, only if they were new here.
    CatchUp {
        /// Archived stanzas received so far in this catch-up: copies of
        /// stored messages included, and bodyless ones such as receipts
        /// (Prosody archives those too), which store nothing.
        fetched: u32,
        /// Nothing more to fetch (or the server refused: see the logs).
        complete: bool,
    },
}

/// The set of subscribers plus the current connection state.
pub(crate) struct EventHub {
    inner: Mutex<HubInner>,
}

struct HubInner {
    state: ConnectionState,
    subscribers: Vec<mpsc::UnboundedSender<Event>>,
}

impl EventHub {
    pub(crate) fn new() -> Self {
        Self {
            inner: Mutex::new(HubInner {
                state: ConnectionState::Disconnected,
                subscribers: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HubInner> {
        // A panic elsewhere must not take event delivery down with it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new queue that starts with the current connection state.
    pub(crate) fn subscribe(&self) -> mpsc::UnboundedReceiver<Event> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut inner = self.lock();
        let _ = tx.send(Event::ConnectionState(inner.state.clone()));
        inner.subscribers.push(tx);
        rx
    }

    pub(crate) fn state(&self) -> ConnectionState {
        self.lock().state.clone()
    }

    /// Records and announces a new state; repeating the current one is a no-op.
    pub(crate) fn set_state(&self, state: ConnectionState) {
        let mut inner = self.lock();
        if inner.state == state {
            return;
        }
        tracing::info!(?state, "connection state");
        inner.state = state.clone();
        Self::broadcast(&mut inner, Event::ConnectionState(state));
    }

    /// Like [`Self::set_state`], unless the connection already failed for
    /// good: a late transient report must not hide a fatal one.
    pub(crate) fn set_state_unless_failed(&self, state: ConnectionState) {
        if !matches!(self.state(), ConnectionState::Failed { .. }) {
            self.set_state(state);
        }
    }

    pub(crate) fn emit(&self, event: Event) {
        let mut inner = self.lock();
        Self::broadcast(&mut inner, event);
    }

    fn broadcast(inner: &mut HubInner, event: Event) {
        inner.subscribers.retain(|s| s.send(event.clone()).is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_subscriber_gets_current_state_then_changes_in_order() {
        let hub = EventHub::new();
        hub.set_state(ConnectionState::Connecting);
        let mut rx = hub.subscribe();
        hub.set_state(ConnectionState::Online { resumed: false });
        hub.set_state(ConnectionState::Online { resumed: false });
        hub.set_state(ConnectionState::Suspended);
        let got: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|e| match e {
                Event::ConnectionState(s) => s,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ConnectionState::Connecting,
                ConnectionState::Online { resumed: false },
                ConnectionState::Suspended
            ]
        );
    }

    #[test]
    fn dropped_subscribers_are_forgotten() {
        let hub = EventHub::new();
        drop(hub.subscribe());
        hub.set_state(ConnectionState::Connecting);
        assert!(hub.lock().subscribers.is_empty());
    }

    #[test]
    fn failed_is_not_overwritten_by_late_transient_state() {
        let hub = EventHub::new();
        let reason = FailureReason::Authentication {
            detail: "not-authorized".into(),
        };
        hub.set_state(ConnectionState::Failed { reason });
        hub.set_state_unless_failed(ConnectionState::Suspended);
        assert!(matches!(hub.state(), ConnectionState::Failed { .. }));
    }
}
