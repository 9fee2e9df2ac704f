//! Push notifications (the core's XEP-0357 registration), for an app that
//! got a token from FCM or APNs and registered it with its app server.

use std::sync::Arc;

use crate::types::{JabberKitError, Password};
use crate::{Client, TaskHandle};

/// Receives our server's answers about push notifications.
#[uniffi::export(with_foreign)]
pub trait PushListener: Send + Sync {
    /// Our server answered about notifications to `service`'s `node`:
    /// `enabled` once it will notify there; `false` once it stopped, or
    /// with `refused` (its reason) if it would not.
    fn on_push_changed(
        &self,
        service: String,
        node: String,
        enabled: bool,
        refused: Option<String>,
    );
}

#[uniffi::export]
impl Client {
    /// Asks our server to notify the app server `service` (a JID) at
    /// `node` while this device is not connected, with `secret` in every
    /// notification if the app server gave one. Stored: enabled again on
    /// every fresh session, at once if online; a registration it replaces
    /// is disabled. Answers arrive at `observe_push`. Returns at once.
    pub fn enable_push(
        &self,
        service: String,
        node: String,
        secret: Option<Arc<Password>>,
    ) -> Result<(), JabberKitError> {
        let secret = secret.as_deref().map(Password::expose);
        Ok(self.inner.enable_push(&service, &node, secret)?)
    }

    /// Stops push notifications to this device (at once if online, else
    /// on the next fresh session).
    pub fn disable_push(&self) -> Result<(), JabberKitError> {
        Ok(self.inner.disable_push()?)
    }

    /// Calls `listener` with each answer of our server about push
    /// notifications.
    pub fn observe_push(&self, listener: Arc<dyn PushListener>) -> Arc<TaskHandle> {
        self.observe(move |event| match event {
            jabberkit::Event::PushChanged {
                service,
                node,
                enabled,
                refused,
            } => {
                let listener = listener.clone();
                Some(Box::new(move || {
                    listener.on_push_changed(service, node, enabled, refused)
                }))
            }
            _ => None,
        })
    }
}
