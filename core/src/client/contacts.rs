//! The contact list and presence: what the app reads and asks.

use super::{check_body, parse_bare, Client};
use crate::error::Error;
use crate::model::{Contact, ContactPresence, Show};
use crate::session::{Command, RosterCommand};

impl Client {
    /// The contact list as last stored (also before connecting): contacts
    /// and everyone whose subscription request is unanswered, by JID.
    /// [`Event::RosterChanged`] says when to read it again.
    pub fn roster(&self) -> Result<Vec<Contact>, Error> {
        Ok(self.inner.store.roster()?)
    }

    /// Adds `jid` to the contact list (or renames it) and asks for
    /// permission to see its presence. The roster arrives changed as
    /// [`Event::RosterChanged`] once the server confirms.
    ///
    /// Contact calls need the account online: they are not queued (a
    /// stale request replayed later could surprise the user), so offline
    /// they fail with [`Error::NotConnected`].
    pub fn add_contact(&self, jid: &str, name: Option<&str>) -> Result<(), Error> {
        let jid = parse_bare(jid)?;
        let name = name.filter(|n| !n.is_empty()).map(str::to_owned);
        self.roster_command(RosterCommand::Add(jid, name))
    }

    /// Renames `jid` and puts it in `groups` (both replace what was
    /// there; no permission is asked again). The change arrives as
    /// [`Event::RosterChanged`] once the server confirms, on every device.
    /// Needs the account online, like the other contact calls.
    ///
    /// Errors: [`Error::InvalidInput`] for a bad JID or a blank group name.
    pub fn update_contact(
        &self,
        jid: &str,
        name: Option<&str>,
        groups: &[String],
    ) -> Result<(), Error> {
        let jid = parse_bare(jid)?;
        let name = name.filter(|n| !n.is_empty()).map(str::to_owned);
        let mut clean = Vec::new();
        for group in groups {
            let group = group.trim();
            if group.is_empty() {
                return Err(Error::invalid("a group name is blank"));
            }
            check_body(group)?;
            if !clean.iter().any(|g| g == group) {
                clean.push(group.to_owned());
            }
        }
        self.roster_command(RosterCommand::Update(jid, name, clean))
    }

    /// Lets `jid` see our presence, and asks to see theirs if we do not
    /// already: permission both ways, which is what users mean by "accept".
    pub fn approve(&self, jid: &str) -> Result<(), Error> {
        self.roster_command(RosterCommand::Approve(parse_bare(jid)?))
    }

    /// Refuses `jid`'s request (or revokes its permission) to see our presence.
    pub fn deny(&self, jid: &str) -> Result<(), Error> {
        self.roster_command(RosterCommand::Deny(parse_bare(jid)?))
    }

    /// Removes `jid` from the contact list; the server cancels the
    /// subscriptions both ways.
    pub fn remove_contact(&self, jid: &str) -> Result<(), Error> {
        self.roster_command(RosterCommand::Remove(parse_bare(jid)?))
    }

    fn roster_command(&self, cmd: RosterCommand) -> Result<(), Error> {
        self.inner.online_command(Command::Roster(cmd))
    }

    /// Sets our availability and status text (empty = none), shown to
    /// every contact allowed to see it. Sent at once while online;
    /// otherwise remembered (in memory, not across a restart) for the next
    /// connection.
    pub fn set_presence(&self, show: Show, status: Option<&str>) -> Result<(), Error> {
        let status = status.filter(|s| !s.is_empty());
        if let Some(status) = status {
            check_body(status)?;
        }
        self.inner
            .presence
            .send_replace((show, status.map(str::to_owned)));
        Ok(())
    }

    /// `jid`'s availability as last stored (also before connecting):
    /// `None` while no resource of it is known to be available.
    /// [`Event::Presence`] says when it changes.
    pub fn presence(&self, jid: &str) -> Result<Option<ContactPresence>, Error> {
        let jid = parse_bare(jid)?;
        Ok(self.inner.store.presence(jid.as_str())?)
    }

    /// Every contact known to be available, by JID.
    pub fn presences(&self) -> Result<Vec<ContactPresence>, Error> {
        Ok(self.inner.store.presences()?)
    }
}
