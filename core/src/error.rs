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

/// Why [`sign_up`](crate::sign_up) did not create the account; each is something to tell
/// the user or do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignUpError {
    /// Someone has that username: ask for another.
    #[error("the username is taken")]
    UsernameTaken,
    /// The server refused the username or password (its rules, e.g. a
    /// password too weak); `reason` is its word, to show.
    #[error("the server refused the account: {reason}")]
    Refused {
        /// The server's condition and text.
        reason: String,
    },
    /// The server does not let this app create accounts: closed, or it
    /// asks for more than a username and password (an e-mail address, a
    /// CAPTCHA), or sends users to a web page (`url`). Show its
    /// `instructions` and `url`, if any.
    #[error("this server does not let the app create accounts{}", url.as_deref().map(|u| format!(" (sign up at {u})")).unwrap_or_default())]
    NotOffered {
        /// What the server tells users, if anything.
        instructions: Option<String>,
        /// Where to sign up instead, if the server said.
        url: Option<String>,
    },
    /// Too many sign-ups from this address lately: try again later.
    #[error("too many sign-ups lately: {reason}")]
    TooSoon {
        /// The server's condition and text.
        reason: String,
    },
    /// The server's certificate did not verify: nothing was sent.
    #[error("certificate refused: {reason}")]
    Certificate {
        /// Why, for the developer.
        reason: String,
    },
    /// The server could not be reached, or the connection broke: retry.
    #[error("network: {reason}")]
    Network {
        /// What failed, for the developer.
        reason: String,
    },
    /// The config is unusable (no user part, an empty password, a bad
    /// address): fix it.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What was wrong, for the developer.
        reason: String,
    },
}

impl From<Error> for SignUpError {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidInput { reason } => Self::InvalidInput { reason },
            e => Self::Network {
                reason: e.to_string(),
            },
        }
    }
}

/// Why a change to the account on its server (`Client::change_password`,
/// `Client::delete_account`) did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// The account is not online: wait for `ConnectionState::Online`.
    #[error("not connected")]
    NotConnected,
    /// The server refused (its rules, e.g. a password too weak, or it does
    /// not let clients do this); `reason` is its word, to show.
    #[error("the server refused: {reason}")]
    Refused {
        /// The server's condition and text.
        reason: String,
    },
    /// The connection was lost, or no answer came in time: whether the
    /// server did it is unknown. After a password change, log in with
    /// either password to find out.
    #[error("no answer from the server: {reason}")]
    Unknown {
        /// What happened, for the developer.
        reason: String,
    },
    /// The new password is unusable (empty): fix it.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What was wrong, for the developer.
        reason: String,
    },
}
