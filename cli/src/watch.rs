//! The lists an agent script watches (the conversation list, timelines,
//! rooms' occupants): each runs on its own task and writes its diffs, in
//! order, into the channel the agent loop prints from.

use std::collections::HashMap;

use jabberkit::{Client, ListDiff, Message, Timeline};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::json::{ConversationItem, Diff, HistoryItem, Output};
use crate::room_items::OccupantItem;

/// The watched conversation list, timelines and occupant lists of one agent.
pub struct Watches {
    out: mpsc::UnboundedSender<Output>,
    conversations: Option<Task>,
    timelines: HashMap<String, (Task, mpsc::UnboundedSender<u32>)>,
    occupants: HashMap<String, Task>,
}

/// A task aborted when its watch is dropped.
struct Task(JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Watches {
    /// The watches and the channel their outputs arrive on.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Output>) {
        let (out, outputs) = mpsc::unbounded_channel();
        let watches = Watches {
            out,
            conversations: None,
            timelines: HashMap::new(),
            occupants: HashMap::new(),
        };
        (watches, outputs)
    }

    /// Watches the conversation list (again from a reset if it was).
    pub fn conversations(&mut self, client: &Client) {
        let mut list = client.conversation_list();
        let out = self.out.clone();
        self.conversations = Some(Task(tokio::spawn(async move {
            while let Some(diffs) = list.next().await {
                let diffs = diffs
                    .into_iter()
                    .map(|d| Diff::new(d, ConversationItem::new))
                    .collect();
                if out.send(Output::ConversationList { diffs }).is_err() {
                    return;
                }
            }
        })));
    }

    /// Watches the timeline of `with` (again from a reset if it was).
    pub fn timeline(&mut self, client: &Client, with: String, page: u32) -> Result<(), Output> {
        let timeline = client
            .timeline(&with, page)
            .map_err(|e| Output::error(e.to_string()))?;
        let (requests, pages) = mpsc::unbounded_channel();
        let task = tokio::spawn(follow_timeline(
            timeline,
            client.jid(),
            with.clone(),
            pages,
            self.out.clone(),
        ));
        self.timelines.insert(with, (Task(task), requests));
        Ok(())
    }

    /// Watches the occupants of `room` (again from a reset if it was).
    pub fn occupants(&mut self, client: &Client, room: String) -> Result<(), Output> {
        let mut list = client
            .occupant_list(&room)
            .map_err(|e| Output::error(e.to_string()))?;
        let out = self.out.clone();
        let key = room.clone();
        let task = tokio::spawn(async move {
            while let Some(diffs) = list.next().await {
                let diffs = diffs
                    .into_iter()
                    .map(|d| Diff::new(d, OccupantItem::new))
                    .collect();
                let room = room.clone();
                if out.send(Output::OccupantsDiff { room, diffs }).is_err() {
                    return;
                }
            }
        });
        self.occupants.insert(key, Task(task));
        Ok(())
    }

    /// Asks the watched timeline of `with` for `count` older messages.
    pub fn paginate(&self, with: &str, count: u32) -> Result<(), Output> {
        match self.timelines.get(with) {
            Some((_, requests)) if requests.send(count).is_ok() => Ok(()),
            _ => Err(Output::error(format!(
                "no timeline of {with:?} is watched: send watch_timeline first"
            ))),
        }
    }

    /// Stops watching the occupants of `room` and the timeline of `with`,
    /// or (neither given) the conversation list.
    pub fn unwatch(&mut self, with: Option<&str>, room: Option<&str>) {
        if let Some(room) = room {
            self.occupants.remove(room);
        }
        if let Some(with) = with {
            self.timelines.remove(with);
        }
        if with.is_none() && room.is_none() {
            self.conversations = None;
        }
    }
}

/// Forwards a timeline's diffs; a page request's diffs are forwarded before
/// its `paginated` answer.
async fn follow_timeline(
    mut timeline: Timeline,
    own: String,
    with: String,
    mut pages: mpsc::UnboundedReceiver<u32>,
    out: mpsc::UnboundedSender<Output>,
) {
    let paginator = timeline.paginator();
    let convert = |diffs: Vec<ListDiff<Message>>| Output::Timeline {
        with: with.clone(),
        diffs: diffs
            .into_iter()
            .map(|d| Diff::new(d, |m| HistoryItem::new(&own, m)))
            .collect(),
    };
    loop {
        let output = tokio::select! {
            diffs = timeline.next() => match diffs {
                Some(diffs) => convert(diffs),
                None => return,
            },
            Some(count) = pages.recv() => {
                let answer = paginator.back(count).await;
                while let Some(diffs) = timeline.try_next() {
                    if out.send(convert(diffs)).is_err() {
                        return;
                    }
                }
                match answer {
                    Ok(more) => Output::Paginated { with: with.clone(), more },
                    Err(e) => Output::error(e.to_string()),
                }
            }
        };
        if out.send(output).is_err() {
            return;
        }
    }
}
