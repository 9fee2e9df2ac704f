//! [`FaultProxy`] as a stand-alone process, for shell scripts such as
//! `scripts/demo` that need to break a client's link on cue.
//!
//! ```text
//! cargo run -p jabberkit-testkit --example fault_proxy -- --upstream 127.0.0.1:5222
//! ```
//!
//! Prints `ADDR=127.0.0.1:PORT` (where clients should connect) on stdout,
//! then reads one command per line on stdin and answers `OK <command>` (or
//! `ERR <why>`): `reset` (RST every live connection, like a NAT rebinding),
//! `blackhole`, `pass`, `refuse`, `delay MS`, `status`. Exits at EOF.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::time::Duration;

use jabberkit_testkit::proxy::{FaultProxy, Mode};

const USAGE: &str = "usage: fault_proxy --upstream HOST:PORT";

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let upstream: SocketAddr = match (args.next().as_deref(), args.next(), args.next()) {
        (Some("--upstream"), Some(addr), None) => match addr.parse() {
            Ok(addr) => addr,
            Err(e) => exit_usage(&format!("bad upstream {addr:?}: {e}")),
        },
        _ => exit_usage(USAGE),
    };
    let proxy = FaultProxy::start(upstream).await;
    say(&format!("ADDR={}", proxy.addr()));

    // std's stdin on a thread of its own: the commands are rare, and this
    // crate's tokio has no stdin support.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = rx.recv().await {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match apply(&proxy, line) {
            Ok(()) => say(&format!("OK {line}")),
            Err(why) => say(&format!("ERR {why}")),
        }
    }
}

fn apply(proxy: &FaultProxy, line: &str) -> Result<(), String> {
    let mut words = line.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some("reset"), None, _) => proxy.reset_all(),
        (Some("blackhole"), None, _) => proxy.set_mode(Mode::Blackhole),
        (Some("pass"), None, _) => proxy.set_mode(Mode::Pass),
        (Some("refuse"), None, _) => proxy.set_mode(Mode::Refuse),
        (Some("delay"), Some(ms), None) => {
            let ms: u64 = ms.parse().map_err(|_| format!("bad delay {ms:?}"))?;
            proxy.set_mode(Mode::Delay(Duration::from_millis(ms)));
        }
        (Some("status"), None, _) => say(&format!(
            "STATUS mode={:?} live={} accepted={}",
            proxy.mode(),
            proxy.live_connections(),
            proxy.connections_accepted()
        )),
        _ => {
            return Err(format!(
                "unknown command {line:?} (reset, blackhole, pass, refuse, delay MS, status)"
            ))
        }
    }
    Ok(())
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // If stdout is gone nobody is listening; keep proxying anyway.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn exit_usage(message: &str) -> ! {
    eprintln!("fault_proxy: {message}");
    std::process::exit(2)
}
