//! `jabberkit agent`: the JSON-lines adapter over [`jabberkit::Client`].
//!
//! Scripts and tests drive a real client through it, so it stays a thin
//! layer: one command is one API call, one core event is at most one output
//! line, and nothing is interpreted on the way. A single task selects over
//! stdin lines and client events, so output lines never interleave and an
//! answer is written before any event that follows the call.

use jabberkit::{Client, Event};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::json::{
    parse_show, parse_typing, Command, ConversationItem, Output, RosterItem, SearchResult,
    StateJson,
};
use crate::watch::Watches;

/// Runs the agent until `quit` or the end of `input`, then disconnects.
///
/// Returns an error only if `output` cannot be written (the reader went
/// away): there is nobody left to tell, so the caller just exits.
pub async fn run<R, W>(client: Client, input: R, mut output: W) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut events = subscribe_and_connect(&client, &mut output).await?;
    let (mut watches, mut watched) = Watches::new();
    let mut input = input;
    // Partial reads stay here across select! cancellations (read_until
    // appends), so a line split over several reads is never lost.
    let mut line = Vec::new();
    loop {
        tokio::select! {
            // Events first: an event that happened before a command was read
            // is printed before that command's answer.
            biased;
            Some(event) = events.recv() => {
                if let Some(out) = Output::from_event(&event) {
                    write_line(&mut output, &out).await?;
                }
            }
            Some(out) = watched.recv() => write_line(&mut output, &out).await?,
            read = input.read_until(b'\n', &mut line) => {
                let eof = match read {
                    Ok(n) => n == 0,
                    Err(e) => {
                        // Treated like EOF: no more commands can come.
                        tracing::warn!("cannot read stdin: {e}");
                        true
                    }
                };
                if !line.is_empty() {
                    let bytes = std::mem::take(&mut line);
                    let flow = handle_line(&client, &mut watches, bytes, &mut output).await?;
                    if flow == Flow::Quit {
                        break;
                    }
                }
                if eof {
                    break;
                }
            }
        }
    }
    client.disconnect().await;
    // Whatever the disconnect produced (the final `disconnected`).
    while let Ok(event) = events.try_recv() {
        if let Some(out) = Output::from_event(&event) {
            write_line(&mut output, &out).await?;
        }
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Quit,
}

/// Parses and runs one command line, printing its answer or error.
async fn handle_line<W: AsyncWrite + Unpin>(
    client: &Client,
    watches: &mut Watches,
    bytes: Vec<u8>,
    output: &mut W,
) -> std::io::Result<Flow> {
    let Ok(text) = String::from_utf8(bytes) else {
        write_line(output, &Output::error("invalid command: not UTF-8")).await?;
        return Ok(Flow::Continue);
    };
    if text.trim().is_empty() {
        return Ok(Flow::Continue);
    }
    let answer = match Command::parse(&text) {
        Ok(Command::Quit) => return Ok(Flow::Quit),
        // These wait for the server (at most 30 s); events wait meanwhile.
        Ok(Command::ChangePassword { password }) => Some(Output::account(
            client.change_password(&password).await,
            Output::PasswordChanged,
        )),
        Ok(Command::DeleteAccount) => Some(Output::account(
            client.delete_account().await,
            Output::AccountDeleted,
        )),
        Ok(cmd) => watch_or_execute(client, watches, cmd),
        Err(message) => Some(Output::error(message)),
    };
    if let Some(out) = answer {
        write_line(output, &out).await?;
    }
    Ok(Flow::Continue)
}

/// Watch commands answer with their own outputs (only a refusal here);
/// every other command is one API call.
fn watch_or_execute(client: &Client, watches: &mut Watches, cmd: Command) -> Option<Output> {
    match cmd {
        Command::WatchConversations => {
            watches.conversations(client);
            None
        }
        Command::WatchTimeline { with, page } => watches.timeline(client, with, page).err(),
        Command::WatchOccupants { room } => watches.occupants(client, room).err(),
        Command::PaginateBack { with, count } => watches.paginate(&with, count).err(),
        Command::Unwatch { with, room } => {
            watches.unwatch(with.as_deref(), room.as_deref());
            None
        }
        cmd => execute(client, cmd),
    }
}

/// Subscribes, then connects. The subscription's first event is the state
/// before connecting (`disconnected`); it is stale at once, so it is not
/// printed: the first line is `connecting`.
async fn subscribe_and_connect<W: AsyncWrite + Unpin>(
    client: &Client,
    output: &mut W,
) -> std::io::Result<UnboundedReceiver<Event>> {
    let mut events = client.events();
    let _stale = events.try_recv();
    if let Err(e) = client.connect() {
        write_line(output, &Output::error(format!("cannot connect: {e}"))).await?;
    }
    Ok(events)
}

fn api_error(e: jabberkit::Error) -> Output {
    Output::error(e.to_string())
}

/// One API call; the answer to print, if the call has one.
pub fn execute(client: &Client, cmd: Command) -> Option<Output> {
    let result = match cmd {
        Command::Send { to, body } => client.send(&to, &body).map(|id| Output::Queued { id, to }),
        Command::History {
            with,
            limit,
            before,
        } => client
            .history(&with, before.as_deref(), limit)
            .map(|messages| Output::history(&client.jid(), &with, &messages)),
        Command::Conversations => client.conversations().map(|list| Output::Conversations {
            items: list.iter().map(ConversationItem::new).collect(),
        }),
        Command::Search { query, limit } => {
            client.search(&query, limit).map(|hits| Output::Search {
                results: hits.iter().map(SearchResult::new).collect(),
            })
        }
        Command::MarkRead { with } => client
            .mark_read(&with)
            .map(|count| Output::MarkedRead { with, count }),
        // The correction is announced as `message_corrected` by its event.
        Command::Correct { id, body } => return client.correct(&id, &body).err().map(api_error),
        // Its progress is announced as `message_state` events.
        Command::Retry { id } => return client.retry(&id).err().map(api_error),
        // The upload's progress follows as `transfer`, its end as `uploaded`.
        Command::SendFile {
            to,
            path,
            mime_type,
        } => client
            .send_file(&to, &path, mime_type.as_deref())
            .map(|m| Output::Queued { id: m.id, to }),
        // Its progress follows as `transfer`, its end as `downloaded` or
        // `download_failed`.
        Command::Download { id, dir } => return client.download(&id, &dir).err().map(api_error),
        // The server's answer follows as `push`.
        Command::EnablePush {
            service,
            node,
            secret,
        } => {
            return client
                .enable_push(&service, &node, secret.as_deref())
                .err()
                .map(api_error)
        }
        Command::DisablePush => return client.disable_push().err().map(api_error),
        Command::Roster => client.roster().map(|contacts| Output::Roster {
            items: contacts.iter().map(RosterItem::new).collect(),
        }),
        // Contact changes answer nothing on success: their effect arrives as
        // `roster_changed` once the server applied it.
        Command::AddContact { jid, name } => {
            return client
                .add_contact(&jid, name.as_deref())
                .err()
                .map(api_error)
        }
        Command::UpdateContact { jid, name, groups } => {
            return client
                .update_contact(&jid, name.as_deref(), &groups)
                .err()
                .map(api_error)
        }
        Command::Approve { jid } => return client.approve(&jid).err().map(api_error),
        Command::Deny { jid } => return client.deny(&jid).err().map(api_error),
        Command::RemoveContact { jid } => return client.remove_contact(&jid).err().map(api_error),
        // No answer on success, like `network`.
        Command::Typing { to, state } => {
            let sent = parse_typing(&state)
                .map_err(Output::error)
                .and_then(|state| {
                    client
                        .set_typing(&to, state)
                        .map_err(|e| Output::error(e.to_string()))
                });
            return sent.err();
        }
        Command::Presence { show, status } => {
            let set = parse_show(&show).map_err(Output::error).and_then(|show| {
                client
                    .set_presence(show, status.as_deref())
                    .map_err(|e| Output::error(e.to_string()))
            });
            return set.err();
        }
        Command::State => Ok(Output::State(StateJson::from(&client.state()))),
        Command::Network { available } => {
            client.network_available(available);
            return None;
        }
        Command::Foreground { active } => {
            client.set_foreground(active);
            return None;
        }
        // Handled by the loop (it ends it) and by `watch_or_execute`.
        cmd @ (Command::JoinRoom { .. }
        | Command::CreateRoom { .. }
        | Command::LeaveRoom { .. }
        | Command::Rooms
        | Command::Occupants { .. }
        | Command::Invite { .. }
        | Command::DeclineInvite { .. }
        | Command::SetSubject { .. }
        | Command::Kick { .. }
        | Command::Ban { .. }
        | Command::DestroyRoom { .. }) => return crate::rooms::execute(client, cmd),
        // Handled where lines are read (they wait for the server).
        Command::Quit
        | Command::ChangePassword { .. }
        | Command::DeleteAccount
        | Command::WatchConversations
        | Command::WatchTimeline { .. }
        | Command::WatchOccupants { .. }
        | Command::PaginateBack { .. }
        | Command::Unwatch { .. } => return None,
    };
    Some(result.unwrap_or_else(|e| Output::error(e.to_string())))
}

async fn write_line<W: AsyncWrite + Unpin>(output: &mut W, out: &Output) -> std::io::Result<()> {
    let mut line = out.to_line();
    line.push('\n');
    output.write_all(line.as_bytes()).await?;
    output.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use jabberkit::ClientConfig;
    use serde_json::Value;
    use tokio::io::{AsyncReadExt, BufReader};

    /// A client whose server does not exist: every command that does not
    /// need the network still works, which is the point of the store.
    fn offline_client(dir: &std::path::Path) -> Client {
        let mut cfg = ClientConfig::new("alice@example.test", "pw", dir);
        // Nothing listens on port 1 of loopback: attempts fail fast.
        cfg.server = Some("127.0.0.1:1".into());
        Client::new(cfg).expect("client")
    }

    /// Runs the agent over `script` and returns what it printed.
    async fn run_script(client: Client, script: &str) -> Vec<Value> {
        let (out_w, mut out_r) = tokio::io::duplex(1 << 20);
        let input = BufReader::new(script.as_bytes());
        tokio::time::timeout(
            std::time::Duration::from_secs(20),
            run(client, input, out_w),
        )
        .await
        .expect("agent finished")
        .expect("output written");
        let mut text = String::new();
        out_r.read_to_string(&mut text).await.expect("read output");
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
            .collect()
    }

    fn answers(lines: &[Value]) -> Vec<&Value> {
        // Connection states come and go with the (failing) connection.
        lines.iter().filter(|v| v["event"] != "state").collect()
    }

    #[tokio::test]
    async fn offline_agent_queues_answers_and_reports_errors_until_eof() {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = concat!(
            "{\"cmd\":\"send\",\"to\":\"bob@example.test\",\"body\":\"first\"}\n",
            "this is not json\n",
            "\n",
            "{\"cmd\":\"dance\"}\n",
            "{\"cmd\":\"send\",\"to\":\"not a jid@@\",\"body\":\"x\"}\n",
            "{\"cmd\":\"network\",\"available\":false}\n",
            "{\"cmd\":\"send\",\"to\":\"bob@example.test\",\"body\":\"second\"}\n",
            "{\"cmd\":\"history\",\"with\":\"bob@example.test\",\"limit\":10}\n",
            "{\"cmd\":\"conversations\"}\n",
            "{\"cmd\":\"presence\",\"show\":\"away\",\"status\":\"lunch\"}\n",
            "{\"cmd\":\"presence\",\"show\":\"sleeping\"}\n",
        );
        let lines = run_script(offline_client(dir.path()), script).await;
        assert_eq!(lines[0]["event"], "state");
        assert_eq!(lines[0]["state"], "connecting");
        let got = answers(&lines);
        assert_eq!(got.len(), 8, "{lines:#?}");
        assert_eq!(got[0]["event"], "queued");
        assert_eq!(got[0]["to"], "bob@example.test");
        let first_id = got[0]["id"].as_str().expect("id").to_owned();
        for (i, hint) in [(1, "invalid command"), (2, "dance"), (3, "invalid input")] {
            assert_eq!(got[i]["event"], "error", "{:?}", got[i]);
            let message = got[i]["message"].as_str().expect("message");
            assert!(message.contains(hint), "{message}");
        }
        assert_eq!(got[4]["event"], "queued");
        let history = got[5];
        assert_eq!(history["event"], "history");
        assert_eq!(history["with"], "bob@example.test");
        let messages = history["messages"].as_array().expect("messages");
        let bodies: Vec<_> = messages.iter().map(|m| m["body"].as_str()).collect();
        assert_eq!(bodies, [Some("first"), Some("second")]);
        assert_eq!(messages[0]["id"], first_id.as_str());
        assert_eq!(messages[0]["from"], "alice@example.test");
        assert_eq!(messages[0]["to"], "bob@example.test");
        assert_eq!(messages[0]["outgoing"], true);
        assert_eq!(messages[0]["state"], "queued");
        assert_eq!(got[6]["event"], "conversations");
        assert_eq!(got[6]["items"][0]["last_body"], "second");
        // A known show answers nothing (remembered offline); another is an error.
        assert_eq!(got[7]["event"], "error");
        assert!(got[7]["message"]
            .as_str()
            .expect("message")
            .contains("sleeping"));
        // EOF disconnects: the last line says so.
        assert_eq!(
            lines.last().map(|l| &l["state"]),
            Some(&Value::from("disconnected"))
        );
    }

    #[tokio::test]
    async fn quit_stops_reading_and_state_answers_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = concat!(
            "{\"cmd\":\"state\"}\n",
            "{\"cmd\":\"quit\"}\n",
            "{\"cmd\":\"send\",\"to\":\"bob@example.test\",\"body\":\"never\"}\n",
        );
        let client = offline_client(dir.path());
        let lines = run_script(client.clone(), script).await;
        assert!(lines.iter().all(|l| l["event"] == "state"), "{lines:#?}");
        assert!(client
            .history("bob@example.test", None, 10)
            .expect("history")
            .is_empty());
    }

    #[tokio::test]
    async fn invalid_utf8_is_reported_and_the_agent_goes_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (out_w, mut out_r) = tokio::io::duplex(1 << 16);
        let mut input = b"\xff\xfe\n".to_vec();
        input.extend_from_slice(b"{\"cmd\":\"conversations\"}\n");
        run(
            offline_client(dir.path()),
            BufReader::new(&input[..]),
            out_w,
        )
        .await
        .expect("output written");
        let mut text = String::new();
        out_r.read_to_string(&mut text).await.expect("read output");
        assert!(
            text.contains(r#"{"event":"error","message":"invalid command: not UTF-8"}"#),
            "{text}"
        );
        assert!(
            text.contains(r#"{"event":"conversations","items":[]}"#),
            "{text}"
        );
    }
}
