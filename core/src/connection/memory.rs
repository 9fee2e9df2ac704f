//! What an account's logins remember between connections: the strongest
//! mechanism it proved (a later weaker one is a downgrade), the id this
//! installation gives servers (XEP-0388 user agent), and the XEP-0484 FAST
//! token that lets a reconnect skip the password exchange.
//!
//! The connection layer does not know the store: the client wires it in.

use std::fmt;

/// A FAST token: a secret the server handed out after a password login,
/// good for the mechanism it was issued for until `expiry` (Unix seconds).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct FastToken {
    pub mechanism: String,
    pub secret: String,
    pub expiry: i64,
}

impl fmt::Debug for FastToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret logs in as the account: never printed.
        f.debug_struct("FastToken")
            .field("mechanism", &self.mechanism)
            .field("expiry", &self.expiry)
            .finish_non_exhaustive()
    }
}

/// The store behind a link's logins. Reads that fail act as "nothing
/// remembered" (and are logged by the implementation), except the pin's:
/// a pin we cannot read must not let a weaker login through. Writes report
/// whether they were kept.
pub(crate) trait LoginMemory: Send + Sync {
    /// The pinned mechanism's name, if a login succeeded before; `Err`
    /// (why, for the app's log) when it cannot be read: no login then.
    fn pinned(&self) -> Result<Option<String>, String>;
    /// Records a stronger pin; called before the session goes online.
    fn pin(&self, mechanism: &str);
    /// This installation's user-agent id (created on first use).
    fn agent_id(&self) -> String;
    /// Replaces the user-agent id (and forgets the FAST token tied to it):
    /// another installation logs in with ours.
    fn renew_agent_id(&self);
    /// The FAST token to log in with, if one was issued.
    fn fast_token(&self) -> Option<FastToken>;
    /// Keeps a token the server issued; false if it could not be stored
    /// (then it is not used: a token lost later would leave the server
    /// expecting one we forgot).
    fn keep_fast_token(&self, token: &FastToken) -> bool;
    /// Forgets the token (the server refused it, or it expired).
    fn forget_fast_token(&self);
}
