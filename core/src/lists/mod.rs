//! Lists the core keeps up to date for a UI: the conversation list and one
//! conversation's timeline. Each follows the event hub, reads what changed
//! from the store, and emits [`ListDiff`]s, so a UI never re-queries and
//! every platform shows the same thing.
//!
//! A list subscribes to events *before* it reads its first state, and
//! applying an event is idempotent (it re-reads what the event names), so
//! nothing that happens in between is missed or shown twice. Store reads
//! run on the blocking pool, never on the runtime's workers.

mod conversations;
mod occupants;
mod timeline;

use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

use crate::error::Error;
use crate::events::EventHub;
use crate::model::{Conversation, Event, ListDiff, Message, Occupant};
use crate::store::{Store, StoreError};

/// What a list does with the store and the events it follows.
trait Follow: Send + 'static {
    type Item: Send + 'static;
    /// The whole list, read afresh.
    fn reset(&mut self, store: &Store) -> Result<Vec<Self::Item>, StoreError>;
    /// The changes a batch of events makes, in order.
    fn apply(
        &mut self,
        events: &[Event],
        store: &Store,
    ) -> Result<Vec<ListDiff<Self::Item>>, StoreError>;
    /// Loads up to `count` older items at the start; `Ok(more)` says
    /// whether still older ones exist.
    fn paginate(
        &mut self,
        count: u32,
        store: &Store,
        diffs: &mut Vec<ListDiff<Self::Item>>,
    ) -> Result<bool, StoreError>;
}

/// A request to load older items, answered with whether more remain.
type Paginate = (u32, oneshot::Sender<Result<bool, Error>>);

/// The changes to one list, in batches, starting with a
/// [`ListDiff::Reset`] holding the whole list. Dropping it stops the list.
pub struct ListUpdates<T> {
    diffs: mpsc::UnboundedReceiver<Vec<ListDiff<T>>>,
    _stop: oneshot::Sender<()>,
}

impl<T> ListUpdates<T> {
    /// The next batch of changes; `None` once the list ended (the client
    /// was dropped, or the store failed: see the logs).
    pub async fn next(&mut self) -> Option<Vec<ListDiff<T>>> {
        self.diffs.recv().await
    }

    /// The next batch if one is ready, without waiting.
    pub fn try_next(&mut self) -> Option<Vec<ListDiff<T>>> {
        self.diffs.try_recv().ok()
    }
}

/// The conversation list: every conversation with its last message and
/// unread count, the most recently active first.
pub type ConversationList = ListUpdates<Conversation>;

/// One room's occupants (ourselves included), by nickname: joins, leaves,
/// nick changes, role and affiliation changes, kicks and bans as they are
/// stored; emptied when we leave or are sent away.
pub type OccupantList = ListUpdates<Occupant>;

/// One conversation's messages, oldest first: the newest page at first,
/// older pages on request ([`Paginator::back`]); new, corrected and
/// progressing messages are applied as they are stored.
pub struct Timeline {
    updates: ListUpdates<Message>,
    paginator: Paginator,
}

impl Timeline {
    /// See [`ListUpdates::next`].
    pub async fn next(&mut self) -> Option<Vec<ListDiff<Message>>> {
        self.updates.next().await
    }

    /// See [`ListUpdates::try_next`].
    pub fn try_next(&mut self) -> Option<Vec<ListDiff<Message>>> {
        self.updates.try_next()
    }

    /// A handle that loads older pages (usable while another task waits
    /// on [`Timeline::next`]).
    pub fn paginator(&self) -> Paginator {
        self.paginator.clone()
    }
}

/// Loads older messages into a [`Timeline`].
#[derive(Clone)]
pub struct Paginator(mpsc::UnboundedSender<Paginate>);

impl Paginator {
    /// Inserts up to `count` older messages at the start of the timeline
    /// (as diffs, before this returns) and says whether older ones remain.
    ///
    /// Errors: [`Error::Storage`] if the store cannot be read;
    /// [`Error::Other`] if the timeline was dropped.
    pub async fn back(&self, count: u32) -> Result<bool, Error> {
        let (answer, answered) = oneshot::channel();
        let ended = || Error::Other {
            reason: "the timeline was dropped".into(),
        };
        self.0.send((count, answer)).map_err(|_| ended())?;
        answered.await.map_err(|_| ended())?
    }
}

pub(crate) fn conversation_list(
    runtime: &Handle,
    store: Arc<Store>,
    hub: &EventHub,
) -> ConversationList {
    let (updates, _) = spawn(runtime, conversations::Conversations::default(), store, hub);
    updates
}

pub(crate) fn occupant_list(
    runtime: &Handle,
    store: Arc<Store>,
    hub: &EventHub,
    room: String,
) -> OccupantList {
    let (updates, _) = spawn(runtime, occupants::Occupants::new(room), store, hub);
    updates
}

pub(crate) fn timeline(
    runtime: &Handle,
    store: Arc<Store>,
    hub: &EventHub,
    with: String,
    page: u32,
) -> Timeline {
    let (updates, paginator) = spawn(runtime, timeline::Window::new(with, page), store, hub);
    Timeline {
        updates,
        paginator: Paginator(paginator),
    }
}

fn spawn<F: Follow>(
    runtime: &Handle,
    list: F,
    store: Arc<Store>,
    hub: &EventHub,
) -> (ListUpdates<F::Item>, mpsc::UnboundedSender<Paginate>) {
    let events = hub.subscribe();
    let (out, diffs) = mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel();
    let (paginator, requests) = mpsc::unbounded_channel();
    runtime.spawn(follow(list, store, events, requests, out, stopped));
    (ListUpdates { diffs, _stop: stop }, paginator)
}

/// The list's task: one batch of events (or one page request) at a time,
/// each worked out on the blocking pool.
async fn follow<F: Follow>(
    list: F,
    store: Arc<Store>,
    mut events: mpsc::UnboundedReceiver<Event>,
    mut requests: mpsc::UnboundedReceiver<Paginate>,
    out: mpsc::UnboundedSender<Vec<ListDiff<F::Item>>>,
    mut stopped: oneshot::Receiver<()>,
) {
    let reset = blocking(list, &store, |list, store| {
        list.reset(store)
            .map(|items| vec![ListDiff::Reset { items }])
    });
    let Some((mut list, Ok(first))) = reset.await else {
        tracing::error!("a list could not read the store; it ends");
        return;
    };
    if out.send(first).is_err() {
        return;
    }
    // Only a timeline pages: other lists' channels close at once.
    let mut paginated = true;
    loop {
        let step = tokio::select! {
            biased;
            _ = &mut stopped => return,
            request = requests.recv(), if paginated => match request {
                Some((count, answer)) => blocking(list, &store, move |list, store| {
                    let mut diffs = Vec::new();
                    let more = list.paginate(count, store, &mut diffs);
                    (diffs, Some((answer, more)))
                }).await,
                None => {
                    paginated = false;
                    continue;
                }
            },
            event = events.recv() => match event {
                Some(event) => {
                    let mut batch = vec![event];
                    while let Ok(event) = events.try_recv() {
                        batch.push(event);
                    }
                    blocking(list, &store, move |list, store| match list.apply(&batch, store) {
                        Ok(diffs) => (diffs, None),
                        Err(e) => {
                            tracing::error!("a list could not read a change ({e}); reloading it");
                            let items = list.reset(store).unwrap_or_default();
                            (vec![ListDiff::Reset { items }], None)
                        }
                    }).await
                }
                None => return,
            },
        };
        let Some((next, (diffs, answer))) = step else {
            tracing::error!("a list's store read panicked; it ends");
            return;
        };
        list = next;
        if !diffs.is_empty() && out.send(diffs).is_err() {
            return;
        }
        if let Some((answer, more)) = answer {
            let _ = answer.send(more.map_err(Error::from));
        }
    }
}

/// Runs `work` on the blocking pool with the list, and gives the list back.
async fn blocking<F: Follow, R: Send + 'static>(
    mut list: F,
    store: &Arc<Store>,
    work: impl FnOnce(&mut F, &Store) -> R + Send + 'static,
) -> Option<(F, R)> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        let result = work(&mut list, &store);
        (list, result)
    })
    .await
    .ok()
}

#[cfg(test)]
mod tests;
