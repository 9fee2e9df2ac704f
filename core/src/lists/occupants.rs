//! One room's occupants, by nickname: the member list of a room's screen.
//! Any event about the room re-reads its occupants (a room has tens or
//! hundreds, one indexed read) and the list emits what changed against
//! what the UI already shows.

use super::Follow;
use crate::model::{Event, ListDiff, Occupant};
use crate::store::{Store, StoreError};

pub(super) struct Occupants {
    /// The room's bare JID.
    room: String,
    /// As the UI has them, in the store's order (by nickname).
    items: Vec<Occupant>,
}

impl Occupants {
    pub(super) fn new(room: String) -> Self {
        Occupants {
            room,
            items: Vec::new(),
        }
    }
}

impl Follow for Occupants {
    type Item = Occupant;

    fn reset(&mut self, store: &Store) -> Result<Vec<Occupant>, StoreError> {
        self.items = store.occupants(&self.room)?;
        Ok(self.items.clone())
    }

    fn apply(
        &mut self,
        events: &[Event],
        store: &Store,
    ) -> Result<Vec<ListDiff<Occupant>>, StoreError> {
        // A burst (a join's whole list) is one read.
        if !events
            .iter()
            .any(|e| room_of(e) == Some(self.room.as_str()))
        {
            return Ok(Vec::new());
        }
        let fresh = store.occupants(&self.room)?;
        let diffs = changes(&self.items, &fresh);
        self.items = fresh;
        Ok(diffs)
    }

    fn paginate(
        &mut self,
        _count: u32,
        _store: &Store,
        _diffs: &mut Vec<ListDiff<Occupant>>,
    ) -> Result<bool, StoreError> {
        // The whole room is loaded.
        Ok(false)
    }
}

/// The diffs that turn `old` into `new`, both ordered by nickname: one
/// walk, an occupant kept in place is `Set` only if it changed. A nick
/// change is a leave and a join (the nick is who they are in the room).
/// Whatever the order, applying them yields exactly `new`.
pub(super) fn changes(old: &[Occupant], new: &[Occupant]) -> Vec<ListDiff<Occupant>> {
    let mut diffs = Vec::new();
    let (mut old, mut new) = (old.iter().peekable(), new.iter().peekable());
    // Where the next diff applies in the list as the diffs so far left it.
    let mut at = 0u32;
    loop {
        match (old.peek(), new.peek()) {
            (None, None) => return diffs,
            (Some(a), Some(b)) if a.nick == b.nick => {
                if a != b {
                    diffs.push(ListDiff::Set {
                        index: at,
                        item: (*b).clone(),
                    });
                }
                at += 1;
                old.next();
                new.next();
            }
            (Some(a), Some(b)) if a.nick > b.nick => {
                diffs.push(ListDiff::Insert {
                    index: at,
                    item: (*b).clone(),
                });
                at += 1;
                new.next();
            }
            (None, Some(b)) => {
                diffs.push(ListDiff::Insert {
                    index: at,
                    item: (*b).clone(),
                });
                at += 1;
                new.next();
            }
            (Some(_), _) => {
                diffs.push(ListDiff::Remove { index: at });
                old.next();
            }
        }
    }
}

/// The room an event may change the occupants of, if any.
fn room_of(event: &Event) -> Option<&str> {
    match event {
        Event::OccupantsChanged { room }
        | Event::RoomJoined { room, .. }
        | Event::RoomLeft { room }
        | Event::RoomError { room, .. } => Some(room),
        Event::ConnectionState(_)
        | Event::Message(_)
        | Event::MessageCorrected(_)
        | Event::MessageUpdated(_)
        | Event::Transfer { .. }
        | Event::DownloadFailed { .. }
        | Event::PushChanged { .. }
        | Event::MessageState { .. }
        | Event::ConversationRead { .. }
        | Event::Typing { .. }
        | Event::RosterChanged
        | Event::SubscriptionRequest { .. }
        | Event::Presence { .. }
        | Event::RoomInvite { .. }
        | Event::RoomSubject { .. }
        | Event::RoomActionFailed { .. }
        | Event::RoomCatchUp { .. }
        | Event::RoomInviteDeclined { .. }
        | Event::CatchUp { .. } => None,
    }
}
