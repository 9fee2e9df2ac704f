//! Which resource our logins bind, and what changes it: a server that ends
//! our stream with `<conflict/>` says another session bound the same
//! resource and took it from us (RFC 6120 §7.7.2.2; Prosody and ejabberd
//! keep the newer session). Binding the same one again would take it back,
//! and the two sessions would throw each other out for ever. So the next
//! login binds another: the app's resource with a random suffix, or, with
//! a resource the server names from our user-agent id (Bind2), a new id:
//! two installations share one only when a store was copied (a restored
//! backup on a second phone).

use std::sync::Mutex;

use tokio_xmpp::jid::Jid;
use tokio_xmpp::parsers::stream_error::{DefinedCondition, StreamError};

use super::memory::LoginMemory;

/// The account's JID as the next login binds it.
pub(super) struct Resource {
    /// The account, with the resource the app asked for, if any.
    configured: Jid,
    /// What replaced the app's resource after a conflict.
    renamed: Mutex<Option<Jid>>,
}

impl Resource {
    pub(super) fn new(configured: Jid) -> Self {
        Self {
            configured,
            renamed: Mutex::new(None),
        }
    }

    /// The JID to bind: the account, with the resource to request if the
    /// app named one (else the server names it).
    pub(super) fn identity(&self) -> Jid {
        self.lock()
            .clone()
            .unwrap_or_else(|| self.configured.clone())
    }

    /// Whether the server ended the previous stream because another
    /// session took our resource; if so, the next login binds another.
    /// The lost session must not be resumed then: it would take the
    /// resource back.
    pub(super) fn taken(&self, error: Option<&StreamError>, memory: &dyn LoginMemory) -> bool {
        if !matches!(error, Some(e) if e.condition == DefinedCondition::Conflict) {
            return false;
        }
        let Some(asked) = self.configured.resource() else {
            tracing::warn!(
                "another session logged in with this installation's id (a copied store?): \
                 this one takes a new id, and logs in with the password once"
            );
            memory.renew_agent_id();
            return true;
        };
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let fresh = format!("{}~{}", asked.as_str(), &suffix[..6]);
        match self.configured.to_bare().with_resource_str(&fresh) {
            Ok(jid) => {
                tracing::warn!(
                    resource = %asked,
                    now = %fresh,
                    "another session took this client's resource; binding another"
                );
                *self.lock() = Some(jid.into());
            }
            // The app's resource is at the length limit: let the server name one.
            Err(_) => *self.lock() = Some(self.configured.to_bare().into()),
        }
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Jid>> {
        self.renamed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::memory::FastToken;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Default)]
    struct Memory {
        renewed: AtomicU32,
    }

    impl LoginMemory for Memory {
        fn pinned(&self) -> Result<Option<String>, String> {
            Ok(None)
        }
        fn pin(&self, _: &str) {}
        fn agent_id(&self) -> String {
            "id".into()
        }
        fn renew_agent_id(&self) {
            self.renewed.fetch_add(1, Ordering::Relaxed);
        }
        fn fast_token(&self) -> Option<FastToken> {
            None
        }
        fn keep_fast_token(&self, _: &FastToken) -> bool {
            true
        }
        fn forget_fast_token(&self) {}
    }

    fn error(condition: DefinedCondition) -> StreamError {
        StreamError::new(condition, "en", String::new())
    }

    #[test]
    fn a_conflict_renames_the_apps_resource() {
        let memory = Memory::default();
        let resource = Resource::new("a@example.test/phone".parse().expect("jid"));
        assert!(!resource.taken(Some(&error(DefinedCondition::SystemShutdown)), &memory));
        assert!(!resource.taken(None, &memory));
        assert_eq!(resource.identity().to_string(), "a@example.test/phone");

        assert!(resource.taken(Some(&error(DefinedCondition::Conflict)), &memory));
        let first = resource.identity();
        let name = first.resource().expect("a resource").to_string();
        assert!(name.starts_with("phone~") && name.len() == "phone~".len() + 6);
        assert_eq!(first.to_bare().to_string(), "a@example.test");
        assert!(resource.taken(Some(&error(DefinedCondition::Conflict)), &memory));
        assert_ne!(resource.identity(), first);
        assert_eq!(memory.renewed.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_conflict_without_an_apps_resource_renews_the_agent_id() {
        let memory = Memory::default();
        let resource = Resource::new("a@example.test".parse().expect("jid"));
        assert!(resource.taken(Some(&error(DefinedCondition::Conflict)), &memory));
        assert_eq!(memory.renewed.load(Ordering::Relaxed), 1);
        assert_eq!(resource.identity().to_string(), "a@example.test");
    }
}
