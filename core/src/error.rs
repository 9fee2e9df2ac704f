//! Errors as the app sees them.
//!
//! Two tiers, as in application-services: internal modules keep rich errors
//! (`StoreError`, tokio-xmpp's errors); what leaves the crate is [`Error`],
//! whose variants are the actions an app can take. Anything with no specific
//! action goes in [`Error::Other`].

use crate::store::StoreError;

/// An error returned by a [`Client`](crate::Client) call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller passed something unusable (a malformed JID, an empty body,
    /// an unreadable CA file). Fix the input; retrying will not help.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What was wrong, for the developer.
        reason: String,
    },
    /// The call needs the account online (changing the contact list):
    /// wait for `ConnectionState::Online`, then retry.
    #[error("not connected")]
    NotConnected,
    /// The message store was written by a newer JabberKit (the user
    /// downgraded the app): this build cannot read it and leaves it
    /// untouched. Ask the user to update the app.
    #[error("the message store is from a newer JabberKit (schema {found}; this build reads up to {supported})")]
    StoreTooNew {
        /// The store's schema version.
        found: u32,
        /// The newest schema version this build reads.
        supported: u32,
    },
    /// The local message store failed (disk full, file corrupted). Stored
    /// data is left untouched.
    #[error("storage error: {reason}")]
    Storage {
        /// What failed, for the developer.
        reason: String,
    },
    /// Anything else; `reason` says what.
    #[error("{reason}")]
    Other {
        /// What failed, for the developer.
        reason: String,
    },
}

impl Error {
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            reason: reason.into(),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::SchemaTooNew { found, supported } => Self::StoreTooNew { found, supported },
            e => Self::Storage {
                reason: e.to_string(),
            },
        }
    }
}
