//! Contacts (RFC 6121): who the user knows, who may see whose presence, and
//! how available they are. A contact's resources (devices) add up to the one
//! status a UI shows: highest priority first (RFC 6121 §4.7.2.3, what
//! routing uses too), then the most reachable show — online > away > xa >
//! dnd — then the resource name, so the choice is stable.

/// One change to the contact list, as a roster push (or our own roster
/// set) makes it; the store applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// Add or update; `pending_in` is ours, not the server's, and ignored.
    Set(Contact),
    /// `subscription='remove'`: the contact is gone.
    Remove(String),
}

/// Who sees whose presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subscription {
    /// Neither side.
    None,
    /// We see the contact's presence.
    To,
    /// The contact sees ours.
    From,
    /// Both: the contact is fully set up.
    Both,
}

impl Subscription {
    /// The value stored in the database (and on the wire).
    pub fn as_str(self) -> &'static str {
        match self {
            Subscription::None => "none",
            Subscription::To => "to",
            Subscription::From => "from",
            Subscription::Both => "both",
        }
    }

    /// The value read back from the database.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" => Subscription::None,
            "to" => Subscription::To,
            "from" => Subscription::From,
            "both" => Subscription::Both,
            _ => return None,
        })
    }

    /// Whether we already see the contact's presence.
    pub fn is_to(self) -> bool {
        matches!(self, Subscription::To | Subscription::Both)
    }

    /// Whether the contact already sees ours.
    pub fn is_from(self) -> bool {
        matches!(self, Subscription::From | Subscription::Both)
    }
}

/// One entry of the contact list, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// The contact's bare JID.
    pub jid: String,
    /// The name the user gave the contact.
    pub name: Option<String>,
    pub groups: Vec<String>,
    pub subscription: Subscription,
    /// We asked to see the contact's presence; no answer yet.
    pub ask: bool,
    /// The contact asked to see ours; the user has not answered yet
    /// (`approve` or `deny`). Such a contact may not be on the roster yet.
    pub pending_in: bool,
}

/// How available someone is. XMPP's `chat` reads as `Online`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Show {
    /// Available (no `<show/>`, or `chat`).
    Online,
    /// `away`.
    Away,
    /// `dnd`.
    DoNotDisturb,
    /// `xa`: away for a long time.
    ExtendedAway,
}

impl Show {
    /// The value stored in the database (XMPP's names; `online` for none).
    pub fn as_str(self) -> &'static str {
        match self {
            Show::Online => "online",
            Show::Away => "away",
            Show::DoNotDisturb => "dnd",
            Show::ExtendedAway => "xa",
        }
    }

    /// The value read back from the database.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Show::Online,
            Show::Away,
            Show::DoNotDisturb,
            Show::ExtendedAway,
        ]
        .into_iter()
        .find(|show| show.as_str() == s)
    }

    /// Lower is more reachable (see the module doc).
    fn rank(self) -> u8 {
        match self {
            Show::Online => 0,
            Show::Away => 1,
            Show::ExtendedAway => 2,
            Show::DoNotDisturb => 3,
        }
    }
}

/// One available resource (device) of a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePresence {
    /// The resource; empty if the contact sent from its bare JID.
    pub resource: String,
    pub show: Show,
    pub status: Option<String>,
    pub priority: i8,
}

/// A contact's availability, as last stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactPresence {
    /// The contact's bare JID.
    pub jid: String,
    /// The best resource's show; `None` when no resource is available.
    pub show: Option<Show>,
    /// The best resource's status text.
    pub status: Option<String>,
    /// Every available resource, best first.
    pub resources: Vec<ResourcePresence>,
}

impl ContactPresence {
    /// Adds up the available resources of `jid` (see the module doc).
    pub(crate) fn aggregate(jid: String, mut resources: Vec<ResourcePresence>) -> Self {
        resources.sort_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then(a.show.rank().cmp(&b.show.rank()))
                .then(a.resource.cmp(&b.resource))
        });
        let best = resources.first();
        Self {
            show: best.map(|r| r.show),
            status: best.and_then(|r| r.status.clone()),
            jid,
            resources,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(resource: &str, show: Show, priority: i8) -> ResourcePresence {
        ResourcePresence {
            resource: resource.into(),
            show,
            status: Some(resource.to_uppercase()),
            priority,
        }
    }

    #[test]
    fn the_best_resource_wins_by_priority_then_show() {
        let c = ContactPresence::aggregate(
            "bob@example.test".into(),
            vec![
                res("dnd", Show::DoNotDisturb, 0),
                res("away", Show::Away, 0),
                res("xa", Show::ExtendedAway, 0),
            ],
        );
        assert_eq!(c.show, Some(Show::Away));
        assert_eq!(c.status.as_deref(), Some("AWAY"));
        let order: Vec<_> = c.resources.iter().map(|r| r.resource.as_str()).collect();
        assert_eq!(order, ["away", "xa", "dnd"]);
        let c = ContactPresence::aggregate(
            "bob@example.test".into(),
            vec![
                res("online", Show::Online, 0),
                res("dnd", Show::DoNotDisturb, 10),
            ],
        );
        assert_eq!(c.show, Some(Show::DoNotDisturb));
        let c = ContactPresence::aggregate("bob@example.test".into(), vec![]);
        assert_eq!((c.show, c.status), (None, None));
    }
}
