//! A conversation's timeline: a window of its newest messages that grows
//! with new ones and, on request, with older pages.

use super::Follow;
use crate::model::{Event, ListDiff, Message};
use crate::store::{Store, StoreError};

pub(super) struct Window {
    with: String,
    /// How many messages the first read loads.
    page: u32,
    /// Oldest first, in store order (timestamp, then arrival).
    items: Vec<Message>,
    /// Whether older messages exist before the first item.
    more: bool,
}

impl Window {
    pub(super) fn new(with: String, page: u32) -> Self {
        Window {
            with,
            page,
            items: Vec::new(),
            more: false,
        }
    }

    /// A newly stored message: it goes after every item not newer than it
    /// (it was stored last, so it sorts last among equal timestamps); one
    /// older than the whole window waits for a page request.
    fn insert(&mut self, message: &Message, diffs: &mut Vec<ListDiff<Message>>) {
        if self.items.iter().any(|m| m.id == message.id) {
            // Already read from the store, at least as new as this copy.
            return;
        }
        let at = self
            .items
            .partition_point(|m| m.timestamp <= message.timestamp);
        if at == 0 && self.more {
            return;
        }
        self.items.insert(at, message.clone());
        diffs.push(ListDiff::Insert {
            index: at as u32,
            item: message.clone(),
        });
    }

    /// A shown message changed: its stored version replaces it.
    fn refresh(
        &mut self,
        id: &str,
        store: &Store,
        diffs: &mut Vec<ListDiff<Message>>,
    ) -> Result<(), StoreError> {
        let Some(index) = self.items.iter().position(|m| m.id == id) else {
            return Ok(());
        };
        if let Some(stored) = store.message(id)? {
            if stored != self.items[index] {
                self.items[index] = stored.clone();
                diffs.push(ListDiff::Set {
                    index: index as u32,
                    item: stored,
                });
            }
        }
        Ok(())
    }

    /// Up to `count` messages before `before` (or the newest), and whether
    /// older ones remain: one more is read to know.
    fn read_page(
        &self,
        before: Option<&str>,
        count: u32,
        store: &Store,
    ) -> Result<(Vec<Message>, bool), StoreError> {
        let mut page = store.history(&self.with, before, count.saturating_add(1))?;
        let more = page.len() > count as usize;
        if more {
            page.remove(0);
        }
        Ok((page, more))
    }
}

impl Follow for Window {
    type Item = Message;

    fn reset(&mut self, store: &Store) -> Result<Vec<Message>, StoreError> {
        let (items, more) = self.read_page(None, self.page, store)?;
        self.items = items;
        self.more = more;
        Ok(self.items.clone())
    }

    fn apply(
        &mut self,
        events: &[Event],
        store: &Store,
    ) -> Result<Vec<ListDiff<Message>>, StoreError> {
        let mut diffs = Vec::new();
        for event in events {
            match event {
                Event::Message(m) if m.conversation == self.with => self.insert(m, &mut diffs),
                Event::MessageCorrected(m) | Event::MessageUpdated(m)
                    if m.conversation == self.with =>
                {
                    self.refresh(&m.id, store, &mut diffs)?
                }
                Event::MessageState {
                    id, conversation, ..
                } if *conversation == self.with => self.refresh(id, store, &mut diffs)?,
                _ => {}
            }
        }
        Ok(diffs)
    }

    fn paginate(
        &mut self,
        count: u32,
        store: &Store,
        diffs: &mut Vec<ListDiff<Message>>,
    ) -> Result<bool, StoreError> {
        let Some(first) = self.items.first() else {
            return Ok(false);
        };
        if !self.more {
            return Ok(false);
        }
        let (page, more) = self.read_page(Some(&first.id.clone()), count, store)?;
        self.more = more;
        for (index, message) in page.into_iter().enumerate() {
            self.items.insert(index, message.clone());
            diffs.push(ListDiff::Insert {
                index: index as u32,
                item: message,
            });
        }
        Ok(more)
    }
}
