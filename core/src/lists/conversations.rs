//! The conversation list: which conversations an event touches, and where
//! each one moves.

use super::Follow;
use crate::model::{Conversation, Event, ListDiff};
use crate::store::{Store, StoreError};

/// The list as the UI has it, each entry with its activity key (last
/// message's timestamp and store sequence), ordered by it, descending.
#[derive(Default)]
pub(super) struct Conversations {
    entries: Vec<(Conversation, (i64, i64))>,
}

impl Follow for Conversations {
    type Item = Conversation;

    fn reset(&mut self, store: &Store) -> Result<Vec<Conversation>, StoreError> {
        self.entries = store.ranked_conversations(None)?;
        Ok(self.entries.iter().map(|(c, _)| c.clone()).collect())
    }

    fn apply(
        &mut self,
        events: &[Event],
        store: &Store,
    ) -> Result<Vec<ListDiff<Conversation>>, StoreError> {
        // A burst touches few conversations: each is read once per batch.
        let mut touched: Vec<&str> = Vec::new();
        for event in events {
            if let Some(with) = conversation_of(event) {
                if !touched.contains(&with) {
                    touched.push(with);
                }
            }
        }
        let mut diffs = Vec::new();
        for with in touched {
            let fresh = store.ranked_conversations(Some(with))?.pop();
            self.place(with, fresh, &mut diffs);
        }
        Ok(diffs)
    }

    fn paginate(
        &mut self,
        _count: u32,
        _store: &Store,
        _diffs: &mut Vec<ListDiff<Conversation>>,
    ) -> Result<bool, StoreError> {
        // The whole list is loaded (a conversation is one row).
        Ok(false)
    }
}

impl Conversations {
    /// Moves, updates, inserts or removes the entry for `with` so the list
    /// matches `fresh`, the store's current summary of it.
    fn place(
        &mut self,
        with: &str,
        fresh: Option<(Conversation, (i64, i64))>,
        diffs: &mut Vec<ListDiff<Conversation>>,
    ) {
        let old = self.entries.iter().position(|(c, _)| c.with == with);
        let Some((conversation, key)) = fresh else {
            if let Some(index) = old {
                self.entries.remove(index);
                diffs.push(ListDiff::Remove {
                    index: index as u32,
                });
            }
            return;
        };
        if let Some(index) = old {
            if self.entries[index] == (conversation.clone(), key) {
                return;
            }
            self.entries.remove(index);
        }
        let at = self.entries.partition_point(|(_, k)| *k > key);
        self.entries.insert(at, (conversation.clone(), key));
        let index = at as u32;
        match old {
            Some(was) if was == at => diffs.push(ListDiff::Set {
                index,
                item: conversation,
            }),
            Some(was) => {
                diffs.push(ListDiff::Remove { index: was as u32 });
                diffs.push(ListDiff::Insert {
                    index,
                    item: conversation,
                });
            }
            None => diffs.push(ListDiff::Insert {
                index,
                item: conversation,
            }),
        }
    }
}

/// The conversation an event changes the summary of, if any.
fn conversation_of(event: &Event) -> Option<&str> {
    match event {
        Event::Message(m) | Event::MessageCorrected(m) | Event::MessageUpdated(m) => {
            Some(&m.conversation)
        }
        Event::MessageState { conversation, .. } => Some(conversation),
        Event::ConversationRead { with } => Some(with),
        Event::ConnectionState(_)
        | Event::Typing { .. }
        | Event::RosterChanged
        | Event::SubscriptionRequest { .. }
        | Event::Presence { .. }
        | Event::RoomJoined { .. }
        | Event::RoomError { .. }
        | Event::OccupantsChanged { .. }
        | Event::RoomInvite { .. }
        | Event::RoomSubject { .. }
        | Event::RoomActionFailed { .. }
        | Event::RoomLeft { .. }
        | Event::RoomCatchUp { .. }
        | Event::RoomInviteDeclined { .. }
        | Event::Transfer { .. }
        | Event::DownloadFailed { .. }
        | Event::PushChanged { .. }
        | Event::CatchUp { .. } => None,
    }
}
