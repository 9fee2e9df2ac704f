//! Account sign-up (the core's `sign_up`, XEP-0077), for an app's "create
//! an account" screen.

use crate::types::ClientConfig;
use crate::RUNTIME;

/// Why a sign-up did not create the account; the variant says what the
/// app can do.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum SignUpError {
    /// Someone has that username: ask for another.
    #[error("the username is taken")]
    UsernameTaken,
    /// The server refused the username or password (its rules); show `reason`.
    #[error("the server refused the account: {reason}")]
    Refused { reason: String },
    /// The server does not let the app create accounts (closed, asks for
    /// more than a username and password, or sends users to `url`).
    #[error("this server does not let the app create accounts")]
    NotOffered {
        instructions: Option<String>,
        url: Option<String>,
    },
    /// Too many sign-ups lately: try later.
    #[error("too many sign-ups lately: {reason}")]
    TooSoon { reason: String },
    /// The server's certificate did not verify: nothing was sent.
    #[error("certificate refused: {reason}")]
    Certificate { reason: String },
    /// The server could not be reached, or the connection broke: retry.
    #[error("network: {reason}")]
    Network { reason: String },
    /// The config is unusable (no user part, empty password, bad address).
    #[error("invalid input: {reason}")]
    InvalidInput { reason: String },
}

impl From<jabberkit::SignUpError> for SignUpError {
    fn from(e: jabberkit::SignUpError) -> Self {
        use jabberkit::SignUpError as E;
        match e {
            E::UsernameTaken => Self::UsernameTaken,
            E::Refused { reason } => Self::Refused { reason },
            E::NotOffered { instructions, url } => Self::NotOffered { instructions, url },
            E::TooSoon { reason } => Self::TooSoon { reason },
            E::Certificate { reason } => Self::Certificate { reason },
            E::Network { reason } => Self::Network { reason },
            E::InvalidInput { reason } => Self::InvalidInput { reason },
        }
    }
}

/// Creates the account of `config` (its JID's user part, its password) on
/// its server over one verified TLS connection; then a `Client` with the
/// same config logs in. Does not retry. Runs on JabberKit's runtime, never
/// on the caller's thread.
#[uniffi::export(async_runtime = "tokio")]
pub async fn sign_up(config: ClientConfig) -> Result<(), SignUpError> {
    let config: jabberkit::ClientConfig = config.into();
    RUNTIME
        .spawn(async move { jabberkit::sign_up(&config).await })
        .await
        .map_err(|e| SignUpError::Network {
            reason: format!("the sign-up task ended: {e}"),
        })?
        .map_err(SignUpError::from)
}
