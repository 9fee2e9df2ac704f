//! The login's verdicts that end a link for good: a server that offers
//! less than the account proved before, and a login we refuse. A leaf:
//! the SASL steps raise them, the reconnect loop classifies them.

/// A login refused as weaker than the account's earlier ones.
#[derive(Debug)]
pub(crate) struct DowngradeRefused(pub(crate) String);

impl std::fmt::Display for DowngradeRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for DowngradeRefused {}
impl tokio_xmpp::connect::ServerConnectorError for DowngradeRefused {}

/// Why we refused to log in: no acceptable mechanism, a server that
/// could not prove itself, or one asking for too much work. Fatal, like a
/// wrong password: retrying meets the same server.
#[derive(Debug)]
pub(crate) struct LoginRefused(pub(crate) String);

impl std::fmt::Display for LoginRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for LoginRefused {}
impl tokio_xmpp::connect::ServerConnectorError for LoginRefused {}
