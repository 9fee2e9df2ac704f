//! Creating an account from the app (XEP-0077 in-band registration), on a
//! server that allows it: the account of a [`ClientConfig`] (its JID's
//! user part and its password), then a [`Client`](crate::Client) logs in
//! with the same config.

use tokio_xmpp::jid::Jid;

use crate::config::ClientConfig;
use crate::connection;
use crate::error::SignUpError;

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
