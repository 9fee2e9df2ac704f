//! The account on its server: a new password, or its removal (XEP-0077).
//! Both need the account online and wait for the server's answer; the UI
//! thread only awaits.

use std::time::Duration;

use tokio::sync::oneshot;

use super::Client;
use crate::error::AccountError;
use crate::model::Secret;
use crate::session::{AccountCommand, Command};

/// How long an account change waits for the server.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

impl Client {
    /// Changes the account's password on its server. Once the server
    /// confirmed, later logins of this client use `new` (the app stores it
    /// for the next `ClientConfig`); the FAST token may be revoked by the
    /// server, and the next login then uses the new password.
    ///
    /// Errors: [`AccountError::NotConnected`] unless online;
    /// [`AccountError::Refused`] with the server's reason (a password too
    /// weak, or not allowed); [`AccountError::Unknown`] if the connection
    /// was lost or 30 s passed without an answer (the change may have
    /// happened); [`AccountError::InvalidInput`] for an empty password.
    pub async fn change_password(&self, new: &str) -> Result<(), AccountError> {
        if new.is_empty() {
            return Err(AccountError::InvalidInput {
                reason: "the new password is empty".into(),
            });
        }
        let new = Secret::new(new);
        self.account_change(|answer| AccountCommand::ChangePassword { new, answer })
            .await
    }

    /// Removes the account from its server, for good: its contacts,
    /// archive and password go with it. Once the server confirmed, the
    /// session ends (`Disconnected`) and nothing can log in any more; the
    /// local store is left for the app to delete (`ClientConfig::store_dir`).
    /// App stores require an app that creates accounts to offer this.
    ///
    /// Errors: as [`Client::change_password`], but for the password.
    pub async fn delete_account(&self) -> Result<(), AccountError> {
        self.account_change(|answer| AccountCommand::Delete { answer })
            .await
    }

    async fn account_change(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<(), AccountError>>) -> AccountCommand,
    ) -> Result<(), AccountError> {
        let (answer, answered) = oneshot::channel();
        {
            let session = self.inner.lock_session();
            let Some(session) = session.as_ref() else {
                return Err(AccountError::NotConnected);
            };
            if session
                .commands
                .send(Command::Account(command(answer)))
                .is_err()
            {
                return Err(AccountError::NotConnected);
            }
        }
        match tokio::time::timeout(ANSWER_TIMEOUT, answered).await {
            Ok(Ok(result)) => result,
            // The session ended with the request unanswered.
            Ok(Err(_)) => Err(AccountError::Unknown {
                reason: "the session ended before the server answered".into(),
            }),
            Err(_) => Err(AccountError::Unknown {
                reason: format!("no answer within {} s", ANSWER_TIMEOUT.as_secs()),
            }),
        }
    }
}
