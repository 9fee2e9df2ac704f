//! `jabberkit chat`: a small line-based chat for people, to try an account
//! by hand. Scripts should use `jabberkit agent` instead: this output is
//! for reading, not parsing, and may change.

use std::collections::HashMap;

use chrono::{DateTime, Local, Utc};
use jabberkit::{Client, ConnectionState, DeliveryState, Direction, Event, Message, TypingState};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

use crate::json::state_name;

/// Messages shown when a conversation is opened.
const BACKLOG: u32 = 20;

const HELP: &str = "commands: /to JID (open a conversation), /list (conversations), \
                    /join ROOM NICK [PASSWORD] (enter a group chat and open it), \
                    /fix TEXT (correct your last message here), /file PATH (send a file), /quit; \
                    any other line is sent to the open conversation";

/// Runs the chat until `/quit` or the end of `input`.
pub async fn run<R, W>(client: Client, input: R, output: W) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut chat = Chat {
        client,
        output,
        current: None,
        sent: HashMap::new(),
        last_sent: HashMap::new(),
    };
    let mut events = chat.client.events();
    let _stale = events.try_recv();
    if let Err(e) = chat.client.connect() {
        chat.say(&format!("! cannot connect: {e}")).await?;
    }
    chat.say(HELP).await?;
    let mut lines = input.lines();
    loop {
        tokio::select! {
            biased;
            Some(event) = events.recv() => chat.on_event(event).await?,
            line = lines.next_line() => match line {
                Ok(Some(line)) => {
                    if !chat.on_line(line.trim()).await? {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    chat.say(&format!("! cannot read input: {e}")).await?;
                    break;
                }
            },
        }
    }
    chat.say("* disconnecting").await?;
    chat.client.disconnect().await;
    Ok(())
}

struct Chat<W> {
    client: Client,
    output: W,
    /// The open conversation.
    current: Option<String>,
    /// Start of the body of each message sent from here, to label receipts.
    sent: HashMap<String, String>,
    /// The last message sent from here, per conversation (for `/fix`).
    last_sent: HashMap<String, String>,
}

impl<W: AsyncWrite + Unpin> Chat<W> {
    async fn say(&mut self, text: &str) -> std::io::Result<()> {
        self.output.write_all(text.as_bytes()).await?;
        self.output.write_all(b"\n").await?;
        self.output.flush().await
    }

    /// Handles one typed line; `false` to quit.
    async fn on_line(&mut self, line: &str) -> std::io::Result<bool> {
        if line.is_empty() {
            return Ok(true);
        }
        if line == "/quit" {
            return Ok(false);
        }
        if line == "/list" {
            let text = match self.client.conversations() {
                Ok(list) if list.is_empty() => "(no conversations yet)".to_owned(),
                Ok(list) => list
                    .iter()
                    .map(|c| format!("  {}: {}", c.with, c.last_message.body))
                    .collect::<Vec<_>>()
                    .join("\n"),
                Err(e) => format!("! {e}"),
            };
            return self.say(&text).await.map(|_| true);
        }
        if let Some(jid) = line.strip_prefix("/to ") {
            return self.open(jid.trim()).await.map(|_| true);
        }
        if let Some(args) = line.strip_prefix("/join ") {
            let mut words = args.split_whitespace();
            let (Some(room), Some(nick)) = (words.next(), words.next()) else {
                return self.say("! /join ROOM NICK [PASSWORD]").await.map(|_| true);
            };
            if let Err(e) = self.client.join_room(room, nick, words.next()) {
                return self.say(&format!("! {e}")).await.map(|_| true);
            }
            return self.open(room).await.map(|_| true);
        }
        if let Some(text) = line.strip_prefix("/fix ") {
            let last = self
                .current
                .as_ref()
                .and_then(|c| self.last_sent.get(c))
                .cloned();
            let Some(id) = last else {
                return self
                    .say("! nothing sent here yet to correct")
                    .await
                    .map(|_| true);
            };
            let said = match self.client.correct(&id, text.trim()) {
                Ok(m) => format!("  ✎ corrected: {}", m.body),
                Err(e) => format!("! {e}"),
            };
            return self.say(&said).await.map(|_| true);
        }
        if let Some(path) = line.strip_prefix("/file ") {
            let Some(to) = self.current.clone() else {
                return self
                    .say("! no open conversation: /to JID first")
                    .await
                    .map(|_| true);
            };
            let said = match self.client.send_file(&to, path.trim(), None) {
                Ok(m) => format!(
                    "  ⇪ uploading {}",
                    m.attachment.map(|a| a.name).unwrap_or_default()
                ),
                Err(e) => format!("! {e}"),
            };
            return self.say(&said).await.map(|_| true);
        }
        if line.starts_with('/') {
            return self.say(HELP).await.map(|_| true);
        }
        let Some(to) = self.current.clone() else {
            return self
                .say("! no open conversation: /to JID first")
                .await
                .map(|_| true);
        };
        match self.client.send(&to, line) {
            Ok(id) => {
                self.sent.insert(id.clone(), snippet(line));
                self.last_sent.insert(to, id);
            }
            Err(e) => self.say(&format!("! {e}")).await?,
        }
        Ok(true)
    }

    async fn open(&mut self, jid: &str) -> std::io::Result<()> {
        match self.client.history(jid, None, BACKLOG) {
            Ok(messages) => {
                self.say(&format!("--- {jid} ---")).await?;
                for m in &messages {
                    let line = self.format_message(m);
                    self.say(&line).await?;
                }
                self.current = Some(jid.to_owned());
                // Shown means read: the peer sees its messages read.
                if let Err(e) = self.client.mark_read(jid) {
                    self.say(&format!("! {e}")).await?;
                }
                Ok(())
            }
            Err(e) => self.say(&format!("! {e}")).await,
        }
    }

    async fn on_event(&mut self, event: Event) -> std::io::Result<()> {
        match event {
            Event::ConnectionState(state) => {
                let text = match &state {
                    ConnectionState::Online { resumed: true } => {
                        "* online (session resumed)".to_owned()
                    }
                    ConnectionState::Reconnecting { retry_in, .. } => {
                        format!("* reconnecting in {} s", retry_in.as_secs())
                    }
                    ConnectionState::Failed { reason } => format!("* failed: {reason}"),
                    other => format!("* {}", state_name(other)),
                };
                self.say(&text).await
            }
            Event::Message(m) if m.direction == Direction::Incoming => {
                let line = self.format_message(&m);
                if self.current.as_deref() == Some(m.conversation.as_str()) {
                    let _ = self.client.mark_read(&m.conversation);
                }
                self.say(&line).await
            }
            // Our own sends: shown as typed, then by their receipts.
            Event::Message(_) => Ok(()),
            Event::MessageUpdated(m) => match m.attachment.and_then(|a| a.url) {
                Some(url) => self.say(&format!("  ⇪ uploaded: {url}")).await,
                None => Ok(()),
            },
            // The end of an upload says enough.
            Event::Transfer { .. } => Ok(()),
            Event::PushChanged {
                refused: Some(why), ..
            } => {
                self.say(&format!("! push notifications refused: {why}"))
                    .await
            }
            Event::PushChanged { .. } => Ok(()),
            Event::DownloadFailed { reason, .. } => {
                self.say(&format!("! download failed: {reason}")).await
            }
            Event::MessageState { id, state, .. } => {
                let mark = match state {
                    DeliveryState::Sent => "✓ sent",
                    DeliveryState::Acked => "✓ on server",
                    DeliveryState::Delivered => "✓✓ delivered",
                    DeliveryState::Read => "✓✓ read",
                    DeliveryState::Failed => "✗ failed",
                    DeliveryState::Queued | DeliveryState::Received => return Ok(()),
                };
                let what = self.sent.get(&id).cloned().unwrap_or(id);
                self.say(&format!("  {mark}: {what}")).await
            }
            Event::Typing { from, state } if self.current.as_deref() == Some(from.as_str()) => {
                let text = match state {
                    TypingState::Composing => format!("  {from} is typing…"),
                    TypingState::Paused => format!("  {from} stopped typing"),
                    TypingState::Gone => format!("  {from} left the conversation"),
                    TypingState::Active | TypingState::Inactive => return Ok(()),
                };
                self.say(&text).await
            }
            Event::Typing { .. } => Ok(()),
            Event::SubscriptionRequest { from } => {
                self.say(&format!("* {from} asks to see your presence"))
                    .await
            }
            Event::RosterChanged => Ok(()),
            // Only the end of a catch-up that brought something is worth a line.
            Event::CatchUp {
                fetched,
                complete: true,
            } if fetched > 0 => {
                self.say(&format!("* caught up: {fetched} archived messages checked"))
                    .await
            }
            Event::CatchUp { .. } => Ok(()),
            Event::MessageCorrected(m) => {
                let line = self.format_message(&m);
                self.say(&line).await
            }
            Event::ConversationRead { .. } => Ok(()),
            Event::Presence { from, show, status } => {
                let show = show.map_or("offline", |s| s.as_str());
                let status = status.map(|s| format!(" ({s})")).unwrap_or_default();
                self.say(&format!("* {from} is {show}{status}")).await
            }
            Event::RoomJoined { room, nick } => self.say(&format!("* in {room} as {nick}")).await,
            Event::RoomError {
                room,
                error: jabberkit::RoomError::NicknameInUse { suggestion },
                ..
            } => {
                let again = format!("/join {room} {suggestion}");
                self.say(&format!("* {room}: that nickname is taken; try {again}"))
                    .await
            }
            Event::RoomError { room, error, text } => {
                let text = text.map(|t| format!(": {t}")).unwrap_or_default();
                self.say(&format!("* {room}: {error:?}{text}")).await
            }
            Event::OccupantsChanged { .. } => Ok(()),
            Event::RoomInvite {
                room,
                from,
                password,
                reason,
            } => {
                let reason = reason.map(|r| format!(" ({r})")).unwrap_or_default();
                let join = match password {
                    Some(p) => format!("/join {room} NICK {}", p.expose()),
                    None => format!("/join {room} NICK"),
                };
                self.say(&format!("* {from} invites you to {room}{reason}: {join}"))
                    .await
            }
            Event::RoomLeft { room } => self.say(&format!("* left {room}")).await,
            // The messages show as they come.
            Event::RoomCatchUp { .. } => Ok(()),
            Event::RoomInviteDeclined { room, from, reason } => {
                let reason = reason.map(|r| format!(" ({r})")).unwrap_or_default();
                self.say(&format!("* {from} declined to join {room}{reason}"))
                    .await
            }
            Event::RoomSubject { room, subject } => {
                let subject = subject.unwrap_or_else(|| "(none)".into());
                self.say(&format!("* {room} subject: {subject}")).await
            }
            Event::RoomActionFailed {
                room,
                action,
                condition,
                ..
            } => {
                self.say(&format!("* {room} refused {action}: {condition}"))
                    .await
            }
        }
    }

    fn format_message(&self, m: &Message) -> String {
        // In a room, the nick of who said it (the sender is room/nick).
        let from = match m.direction {
            Direction::Outgoing => "me",
            Direction::Incoming => match m.sender.split_once('/') {
                Some((room, nick)) if room == m.conversation => nick,
                _ => m.conversation.as_str(),
            },
        };
        let elsewhere = match (&self.current, m.direction) {
            (Some(c), Direction::Incoming) if *c != m.conversation => " (/to to reply)",
            (None, Direction::Incoming) => " (/to to reply)",
            _ => "",
        };
        let edited = if m.corrected { " (edited)" } else { "" };
        format!(
            "[{}] {from}: {}{edited}{elsewhere}",
            local_time(&m.timestamp),
            m.body
        )
    }
}

fn local_time(t: &DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%H:%M:%S").to_string()
}

/// The start of a body, to recognise it in a receipt line.
fn snippet(body: &str) -> String {
    const MAX: usize = 30;
    match body.char_indices().nth(MAX) {
        Some((i, _)) => format!("\"{}…\"", &body[..i]),
        None => format!("\"{body}\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jabberkit::ClientConfig;
    use tokio::io::{AsyncReadExt, BufReader};

    #[test]
    fn snippets_are_short_and_cut_on_characters() {
        assert_eq!(snippet("hi"), "\"hi\"");
        let long = "✓".repeat(40);
        assert_eq!(snippet(&long), format!("\"{}…\"", "✓".repeat(30)));
    }

    #[tokio::test]
    async fn sends_to_the_open_conversation_and_shows_its_history() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = ClientConfig::new("alice@example.test", "pw", dir.path());
        cfg.server = Some("127.0.0.1:1".into());
        let client = Client::new(cfg).expect("client");
        let script = "hello?\n/to bob@example.test\nfirst\n/to bob@example.test\n/quit\nnever\n";
        let (out_w, mut out_r) = tokio::io::duplex(1 << 16);
        run(client.clone(), BufReader::new(script.as_bytes()), out_w)
            .await
            .expect("output written");
        let mut text = String::new();
        out_r.read_to_string(&mut text).await.expect("read output");
        assert!(text.contains("! no open conversation"), "{text}");
        assert!(text.contains("] me: first"), "{text}");
        let history = client
            .history("bob@example.test", None, 10)
            .expect("history");
        let bodies: Vec<_> = history.iter().map(|m| m.body.as_str()).collect();
        assert_eq!(bodies, ["first"]);
    }
}
