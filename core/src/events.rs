//! What the core tells the app, and how it reaches every observer in order.
//!
//! Each observer gets its own unbounded queue, so a slow observer never
//! blocks the connection and never loses an event; events are pushed while a
//! short lock is held, but no observer code ever runs under it (observers
//! pull from their queue on their own task or thread).

use std::sync::{Mutex, MutexGuard};

use tokio::sync::mpsc;

use crate::model::{ConnectionState, Event};

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
}
