//! The core's observable lists for the apps: the conversation list,
//! timelines and a room's occupants as diffs, delivered to a listener on a
//! background thread.

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use crate::types::{Conversation, JabberKitError, Message, Occupant};
use crate::RUNTIME;

/// One change to the conversation list, applied in order (an index refers
/// to the list after the changes before it).
#[derive(Debug, Clone, uniffi::Enum)]
pub enum ConversationListDiff {
    /// The whole list: the first change a listener gets.
    Reset { items: Vec<Conversation> },
    /// `item` is now at `index`; the items from there move down one.
    Insert { index: u32, item: Conversation },
    /// The item at `index` changed in place.
    Set { index: u32, item: Conversation },
    /// The item at `index` is gone; the items after it move up one.
    Remove { index: u32 },
}

/// One change to a timeline, applied in order; see [`ConversationListDiff`].
#[derive(Debug, Clone, uniffi::Enum)]
pub enum TimelineDiff {
    Reset { items: Vec<Message> },
    Insert { index: u32, item: Message },
    Set { index: u32, item: Message },
    Remove { index: u32 },
}

/// One change to a room's occupant list, applied in order; see
/// [`ConversationListDiff`].
#[derive(Debug, Clone, uniffi::Enum)]
pub enum OccupantListDiff {
    Reset { items: Vec<Occupant> },
    Insert { index: u32, item: Occupant },
    Set { index: u32, item: Occupant },
    Remove { index: u32 },
}

macro_rules! convert_diff {
    ($diff:ident, $item:ty) => {
        impl<T: Into<$item>> From<jabberkit::ListDiff<T>> for $diff {
            fn from(diff: jabberkit::ListDiff<T>) -> Self {
                match diff {
                    jabberkit::ListDiff::Reset { items } => $diff::Reset {
                        items: items.into_iter().map(Into::into).collect(),
                    },
                    jabberkit::ListDiff::Insert { index, item } => $diff::Insert {
                        index,
                        item: item.into(),
                    },
                    jabberkit::ListDiff::Set { index, item } => $diff::Set {
                        index,
                        item: item.into(),
                    },
                    jabberkit::ListDiff::Remove { index } => $diff::Remove { index },
                }
            }
        }
    };
}
convert_diff!(ConversationListDiff, Conversation);
convert_diff!(TimelineDiff, Message);
convert_diff!(OccupantListDiff, Occupant);

/// Receives the conversation list's changes.
#[uniffi::export(with_foreign)]
pub trait ConversationListListener: Send + Sync {
    /// A batch of changes; the first is a reset with the whole list.
    fn on_diffs(&self, diffs: Vec<ConversationListDiff>);
}

/// Receives a timeline's changes.
#[uniffi::export(with_foreign)]
pub trait TimelineListener: Send + Sync {
    /// A batch of changes; the first is a reset with the newest page.
    fn on_diffs(&self, diffs: Vec<TimelineDiff>);
}

/// Receives a room's occupant list's changes.
#[uniffi::export(with_foreign)]
pub trait OccupantListListener: Send + Sync {
    /// A batch of changes; the first is a reset with the occupants as
    /// last seen, by nickname.
    fn on_diffs(&self, diffs: Vec<OccupantListDiff>);
}

/// Calls a listener with each batch, one at a time and in order, on a
/// blocking-pool thread: foreign code never runs on the async workers.
async fn deliver<D: Send + 'static>(call: impl FnOnce() -> D + Send + 'static) {
    if tokio::task::spawn_blocking(call).await.is_err() {
        tracing::error!(
            "a JabberKit list listener panicked or threw; it gets the next batch anyway"
        );
    }
}

pub(crate) fn observe_conversation_list(
    client: &jabberkit::Client,
    listener: Arc<dyn ConversationListListener>,
) -> AbortHandle {
    let _runtime = RUNTIME.enter();
    let mut list = client.conversation_list();
    RUNTIME
        .spawn(async move {
            while let Some(diffs) = list.next().await {
                let listener = listener.clone();
                let diffs = diffs.into_iter().map(Into::into).collect();
                deliver(move || listener.on_diffs(diffs)).await;
            }
        })
        .abort_handle()
}

pub(crate) fn observe_occupant_list(
    client: &jabberkit::Client,
    room: &str,
    listener: Arc<dyn OccupantListListener>,
) -> Result<AbortHandle, JabberKitError> {
    let _runtime = RUNTIME.enter();
    let mut list = client.occupant_list(room)?;
    Ok(RUNTIME
        .spawn(async move {
            while let Some(diffs) = list.next().await {
                let listener = listener.clone();
                let diffs = diffs.into_iter().map(Into::into).collect();
                deliver(move || listener.on_diffs(diffs)).await;
            }
        })
        .abort_handle())
}

/// A page request and where its answer goes.
type PageRequest = (u32, oneshot::Sender<Result<bool, JabberKitError>>);

/// A timeline being observed: loads older pages, and stops with `cancel`
/// (or when released).
#[derive(uniffi::Object)]
pub struct TimelineHandle {
    pages: mpsc::UnboundedSender<PageRequest>,
    task: Mutex<Option<AbortHandle>>,
}

#[uniffi::export(async_runtime = "tokio")]
impl TimelineHandle {
    /// Loads up to `count` older messages; their diffs reach the listener
    /// before this returns. Returns whether older messages remain.
    pub async fn paginate_back(&self, count: u32) -> Result<bool, JabberKitError> {
        let (answer, answered) = oneshot::channel();
        let stopped = || JabberKitError::Other {
            reason: "the timeline was cancelled".into(),
        };
        self.pages.send((count, answer)).map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }

    /// Stops the timeline; the listener gets no call afterwards. Idempotent.
    pub fn cancel(&self) {
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            task.abort();
        }
    }
}

impl Drop for TimelineHandle {
    fn drop(&mut self) {
        self.cancel();
    }
}

pub(crate) fn observe_timeline(
    client: &jabberkit::Client,
    with: &str,
    page: u32,
    listener: Arc<dyn TimelineListener>,
) -> Result<Arc<TimelineHandle>, JabberKitError> {
    let _runtime = RUNTIME.enter();
    let mut timeline = client.timeline(with, page)?;
    let (pages, mut requests) = mpsc::unbounded_channel::<PageRequest>();
    let task = RUNTIME.spawn(async move {
        let paginator = timeline.paginator();
        let send = |diffs: Vec<jabberkit::ListDiff<jabberkit::Message>>| {
            let listener = listener.clone();
            let diffs: Vec<TimelineDiff> = diffs.into_iter().map(Into::into).collect();
            deliver(move || listener.on_diffs(diffs))
        };
        loop {
            tokio::select! {
                diffs = timeline.next() => match diffs {
                    Some(diffs) => send(diffs).await,
                    None => return,
                },
                Some((count, answer)) = requests.recv() => {
                    let more = paginator.back(count).await;
                    while let Some(diffs) = timeline.try_next() {
                        send(diffs).await;
                    }
                    let _ = answer.send(more.map_err(Into::into));
                }
            }
        }
    });
    Ok(Arc::new(TimelineHandle {
        pages,
        task: Mutex::new(Some(task.abort_handle())),
    }))
}
