//! The account on its server (the core's `change_password` and
//! `delete_account`, XEP-0077), for an app's account settings.

use std::sync::Arc;

use crate::types::Password;
use crate::{Client, RUNTIME};

/// Why a change to the account did not happen.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum AccountError {
    /// Not online: wait for `Online`.
    #[error("not connected")]
    NotConnected,
    /// The server refused (its rules); show `reason`.
    #[error("the server refused: {reason}")]
    Refused { reason: String },
    /// The connection was lost, or no answer came within 30 s: whether the
    /// server did it is unknown.
    #[error("no answer from the server: {reason}")]
    Unknown { reason: String },
    /// An empty password.
    #[error("invalid input: {reason}")]
    InvalidInput { reason: String },
}

impl From<jabberkit::AccountError> for AccountError {
    fn from(e: jabberkit::AccountError) -> Self {
        use jabberkit::AccountError as E;
        match e {
            E::NotConnected => Self::NotConnected,
            E::Refused { reason } => Self::Refused { reason },
            E::Unknown { reason } => Self::Unknown { reason },
            E::InvalidInput { reason } => Self::InvalidInput { reason },
        }
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Client {
    /// Changes the account's password on its server; once it confirmed,
    /// this client's later logins use `new` (store it for the next
    /// config). Online only. Runs on JabberKit's runtime.
    pub async fn change_password(&self, new: Arc<Password>) -> Result<(), AccountError> {
        let inner = self.inner.clone();
        let new = new.expose().to_owned();
        RUNTIME
            .spawn(async move { inner.change_password(&new).await })
            .await
            .map_err(|e| AccountError::Unknown {
                reason: format!("the task ended: {e}"),
            })?
            .map_err(AccountError::from)
    }

    /// Removes the account from its server for good; the session then
    /// ends (`Disconnected`). The local store stays for the app to delete.
    /// Online only. Runs on JabberKit's runtime.
    pub async fn delete_account(&self) -> Result<(), AccountError> {
        let inner = self.inner.clone();
        RUNTIME
            .spawn(async move { inner.delete_account().await })
            .await
            .map_err(|e| AccountError::Unknown {
                reason: format!("the task ended: {e}"),
            })?
            .map_err(AccountError::from)
    }
}
