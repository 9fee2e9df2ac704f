//! Push notifications (XEP-0357): the app registers with its app server
//! (which talks to FCM or APNs) and hands us what that returned; our
//! server then notifies the app server while this device has no live
//! stream, and the woken app connects and resumes.

use super::Client;
use crate::error::Error;
use crate::session::Command;

impl Client {
    /// Asks our server to notify `service` (the app server's JID) at
    /// `node` while this device is not connected (the stream hibernates
    /// or is gone), with `secret` in every notification if the app server
    /// gave one. Stored: enabled again on every fresh session, and at once
    /// if online; a registration it replaces is disabled. The server's
    /// answer arrives as [`crate::Event::PushChanged`]. Returns at once.
    ///
    /// What a notification says is up to our server (Prosody and ejabberd
    /// send a count and, if configured, the sender and the text); the app
    /// server should forward no more than "something arrived".
    ///
    /// Errors: [`Error::InvalidInput`] for a `service` that is not a bare
    /// JID or an empty `node`.
    pub fn enable_push(
        &self,
        service: &str,
        node: &str,
        secret: Option<&str>,
    ) -> Result<(), Error> {
        let jid: tokio_xmpp::jid::BareJid = service
            .parse()
            .map_err(|e| Error::invalid(format!("push service {service:?} is not a JID: {e}")))?;
        if node.trim().is_empty() {
            return Err(Error::invalid("the push node is empty"));
        }
        self.inner.store.want_push(jid.as_str(), node, secret)?;
        self.push_changed();
        Ok(())
    }

    /// Stops push notifications to this device: our server is told at
    /// once if online, else on the next fresh session
    /// ([`crate::Event::PushChanged`] with `enabled: false`).
    pub fn disable_push(&self) -> Result<(), Error> {
        self.inner.store.want_no_push()?;
        self.push_changed();
        Ok(())
    }

    fn push_changed(&self) {
        if let Some(session) = self.inner.lock_session().as_ref() {
            // If the session just ended, the next one sends it.
            let _ = session.commands.send(Command::Push);
        }
    }
}
