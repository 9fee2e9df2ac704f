//! Creating an account from the app (XEP-0077 in-band registration), on a
//! server that allows it: the account of a [`ClientConfig`] (its JID's
//! user part and its password), then a [`Client`](crate::Client) logs in
//! with the same config.

use tokio_xmpp::jid::Jid;

use crate::config::ClientConfig;
use crate::connection;
use crate::error::Error;

/// Why [`sign_up`] did not create the account; each is something to tell
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

/// Creates the account `config.jid` (user part) with `config.password`
/// on its server, over one verified TLS connection (`config.server`,
/// `tls`, `extra_ca_pem` and `dns_servers` as for logging in). Nothing is
/// stored; on success, a [`Client`](crate::Client) with the same config
/// logs in. Needs a tokio runtime; does not retry.
pub async fn sign_up(config: &ClientConfig) -> Result<(), SignUpError> {
    let invalid = |reason: String| SignUpError::InvalidInput { reason };
    let jid: Jid = config
        .jid
        .parse()
        .map_err(|e| invalid(format!("{:?} is not a JID: {e}", config.jid)))?;
    if jid.node().is_none() {
        return Err(invalid(format!("{:?} has no user part", config.jid)));
    }
    if config.password.is_empty() {
        return Err(invalid("the password is empty".into()));
    }
    connection::register(config, &jid.to_bare().into()).await
}
