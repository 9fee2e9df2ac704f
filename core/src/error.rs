//! Errors as the app sees them.
//!
//! Two tiers, as in application-services: internal modules keep rich errors
//! (`StoreError`, tokio-xmpp's errors); what leaves the crate is [`Error`],
//! whose variants are the actions an app can take. Anything with no specific
//! action goes in [`Error::Other`].

use std::fmt;

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
    /// The local message store failed (disk full, file corrupted, schema
    /// from a newer JabberKit). Stored data is left untouched.
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
        Self::Storage {
            reason: e.to_string(),
        }
    }
}

/// Why the connection gave up for good (state
/// [`ConnectionState::Failed`](crate::ConnectionState::Failed)).
///
/// These are the failures that retrying cannot fix: JabberKit makes no
/// further connection attempt until the app calls `connect()` again
/// (typically after asking the user for a new password, or after the user
/// chose to trust a certificate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureReason {
    /// The server rejected the credentials (SASL failure).
    Authentication {
        /// The server's condition, e.g. `not-authorized`.
        detail: String,
    },
    /// The server's certificate could not be verified (unknown CA, wrong
    /// name, expired), or the server would not offer TLS at all. No
    /// credentials were sent.
    Certificate {
        /// What the TLS layer reported.
        detail: String,
    },
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Authentication { detail } => write!(f, "authentication failed: {detail}"),
            Self::Certificate { detail } => write!(f, "certificate not trusted: {detail}"),
        }
    }
}
