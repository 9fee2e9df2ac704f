#!/usr/bin/env python3
"""A slixmpp client that speaks the benchmark subset of `jabberkit agent`'s
JSON-lines protocol (cli/src/json.rs), so jabberkit-bench can measure both
clients as whole processes doing the same job.

Commands (stdin): send, history, foreground, state, quit.
Events (stdout): state, queued, message_state (acked), message, catchup,
history, error.

It does the job honestly, like our agent: XEP-0198 with resumption, its own
reconnect on a lost link (at once: connect() resets slixmpp's backoff),
messages stored in SQLite before they are sent, incoming messages stored
once (deduplicated on the server's stanza-id, or sender + origin-id), and
after every fresh session a MAM (XEP-0313) catch-up forward from the newest
archive id it stored (a bounded window of the latest 200 on a first login,
pages of 250 after that, like the core). XEP-0184 receipts are requested and
answered like our agent does; XEP-0352 CSI on `foreground`.

Usage: slix_agent.py --jid J --store DIR --server HOST:PORT
                     --tls direct|starttls --ca PEM   (password: JABBERKIT_PASSWORD)
"""

import argparse
import asyncio
import datetime
import json
import logging
import os
import sqlite3
import sys
import uuid
from pathlib import Path

import slixmpp
from slixmpp.xmlstream.handler import Collector
from slixmpp.xmlstream.matcher import MatchXMLMask

# Same numbers as the core (core/src/archive.rs, config.rs).
PAGE_SIZE = 250
FIRST_LOGIN_WINDOW = 200

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    conversation TEXT NOT NULL,
    outgoing INTEGER NOT NULL,
    sender TEXT NOT NULL,
    body TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    origin_id TEXT,
    stanza_id TEXT UNIQUE,
    state TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_origin ON messages (sender, origin_id);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages (conversation, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def now_ms():
    return int(datetime.datetime.now(datetime.timezone.utc).timestamp() * 1000)


def rfc3339(ms):
    t = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def emit(obj):
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class Store:
    """Messages and the archive position, in one SQLite file."""

    def __init__(self, directory):
        Path(directory).mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(os.path.join(directory, "slix_agent.sqlite3"))
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.db.commit()

    def enqueue_outgoing(self, mid, own, to, body):
        with self.db:
            self.db.execute(
                "INSERT INTO messages (id, conversation, outgoing, sender, body, timestamp,"
                " origin_id, stanza_id, state) VALUES (?, ?, 1, ?, ?, ?, ?, NULL, 'queued')",
                (mid, to, own, body, now_ms(), mid),
            )

    def set_state(self, mid, state):
        with self.db:
            self.db.execute("UPDATE messages SET state = ? WHERE id = ?", (state, mid))

    def insert(self, conversation, outgoing, sender, body, ts, origin_id, stanza_id):
        """Stores a message once; returns its new id, or None for a copy."""
        mid = str(uuid.uuid4())
        with self.db:
            cur = self.db.execute(
                "INSERT OR IGNORE INTO messages (id, conversation, outgoing, sender, body,"
                " timestamp, origin_id, stanza_id, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (mid, conversation, int(outgoing), sender, body, ts, origin_id, stanza_id,
                 "acked" if outgoing else "received"),
            )
        return mid if cur.rowcount == 1 else None

    def history(self, with_jid, limit):
        rows = self.db.execute(
            "SELECT id, outgoing, sender, body, timestamp, state FROM messages"
            " WHERE conversation = ? ORDER BY seq DESC LIMIT ?",
            (with_jid, limit),
        ).fetchall()
        rows.reverse()
        return rows

    def get_meta(self, key):
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key, value):
        with self.db:
            self.db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )


class Agent:
    def __init__(self, args, password):
        self.own = slixmpp.JID(args.jid).bare
        self.store = Store(args.store)
        host, _, port = args.server.rpartition(":")
        self.address = (host, int(port))
        self.quitting = False
        self.catch_up_task = None
        self.ack_flush_scheduled = False

        xmpp = slixmpp.ClientXMPP(args.jid, password)
        xmpp.enable_plaintext = False
        xmpp.enable_direct_tls = args.tls == "direct"
        xmpp.enable_starttls = args.tls == "starttls"
        xmpp.ca_certs = Path(args.ca)
        for plugin in ("xep_0030", "xep_0059", "xep_0203", "xep_0297", "xep_0313", "xep_0359",
                       "xep_0184", "xep_0352"):
            xmpp.register_plugin(plugin)
        # Resumption on (the default); slixmpp's default ack window of 5.
        xmpp.register_plugin("xep_0198", {"allow_resume": True})
        xmpp.add_event_handler("session_start", self.on_session_start)
        xmpp.add_event_handler("sm_enabled", self.on_fresh_session)
        xmpp.add_event_handler("session_resumed", self.on_resumed)
        xmpp.add_event_handler("stanza_acked", self.on_acked)
        xmpp.add_event_handler("message", self.on_message)
        xmpp.add_event_handler("disconnected", self.on_disconnected)
        xmpp.add_event_handler("failed_auth", self.on_failed_auth)
        self.xmpp = xmpp

    # ------------------------------------------------------------ connection

    def connect(self):
        emit({"event": "state", "state": "connecting"})
        self.xmpp.connect(*self.address)

    def on_session_start(self, _event):
        # What every client does on a new session: presence and roster.
        self.xmpp.send_presence()
        self.xmpp.get_roster()

    def on_fresh_session(self, _stanza):
        emit({"event": "state", "state": "online", "resumed": False})
        if self.catch_up_task is not None:
            self.catch_up_task.cancel()
        self.catch_up_task = asyncio.ensure_future(self.catch_up())

    def on_resumed(self, _stanza):
        emit({"event": "state", "state": "online", "resumed": True})

    def on_disconnected(self, _reason):
        if self.quitting:
            return
        emit({"event": "state", "state": "suspended"})
        # At once: connect() resets slixmpp's own backoff to zero.
        self.connect()

    def on_failed_auth(self, _event):
        emit({"event": "state", "state": "failed", "reason": "authentication failed"})

    # ------------------------------------------------------------ messages

    def send(self, to, body):
        mid = str(uuid.uuid4())
        to = slixmpp.JID(to).bare
        self.store.enqueue_outgoing(mid, self.own, to, body)
        emit({"event": "queued", "id": mid, "to": to})
        msg = self.xmpp.make_message(mto=to, mbody=body, mtype="chat")
        msg["id"] = mid
        msg["origin_id"]["id"] = mid
        msg["request_receipt"] = True
        msg.send()
        self.schedule_ack_flush()

    def schedule_ack_flush(self):
        """Asks for an ack when a burst of sends ends, so the tail of the
        burst (less than slixmpp's window) is acked too."""
        if self.ack_flush_scheduled:
            return
        self.ack_flush_scheduled = True

        def flush():
            self.ack_flush_scheduled = False
            sm = self.xmpp.plugin["xep_0198"]
            if sm.enabled_out and sm.unacked_queue and self.xmpp.transport:
                sm.window_counter = sm.window
                sm.request_ack()

        self.xmpp.loop.call_soon(flush)

    def on_acked(self, stanza):
        if isinstance(stanza, slixmpp.Message) and stanza["body"] and stanza["id"]:
            self.store.set_state(stanza["id"], "acked")
            emit({"event": "message_state", "id": stanza["id"], "state": "acked"})

    def stanza_id_of(self, msg):
        sid = msg["stanza_id"]
        if sid["id"] and slixmpp.JID(sid["by"]).bare == self.own:
            return sid["id"]
        return None

    def on_message(self, msg):
        if msg["type"] not in ("chat", "normal") or not msg["body"]:
            return
        if msg.xml.find("{urn:xmpp:mam:2}result") is not None:
            return
        sender = msg["from"].bare
        if sender == self.own:
            return
        ts = now_ms()
        if msg.xml.find("{urn:xmpp:delay}delay") is not None and msg["delay"]["stamp"]:
            ts = int(msg["delay"]["stamp"].timestamp() * 1000)
        origin = msg["origin_id"]["id"] or msg["id"] or None
        self.store_incoming(sender, msg["body"], ts, origin, self.stanza_id_of(msg))

    def store_incoming(self, sender, body, ts, origin, stanza_id):
        mid = self.store.insert(sender, False, sender, body, ts, origin, stanza_id)
        if mid is not None:
            emit({"event": "message", "id": mid, "from": sender, "body": body,
                  "timestamp": rfc3339(ts)})

    # ------------------------------------------------------------ catch-up

    async def query_page(self, queryid, after, latest):
        """One MAM page: after `after` (oldest first), or the latest
        `latest` messages. Returns (results, last id, complete)."""
        iq = self.xmpp.make_iq_set()
        iq["mam"]["queryid"] = queryid
        if latest:
            iq["mam"]["rsm"]["max"] = str(latest)
            iq["mam"]["rsm"]["before"] = True
        else:
            iq["mam"]["rsm"]["max"] = str(PAGE_SIZE)
            if after:
                iq["mam"]["rsm"]["after"] = after
        mask = self.xmpp.Message()
        auto_origin = mask.xml.find("{urn:xmpp:sid:0}origin-id")
        if auto_origin is not None:
            mask.xml.remove(auto_origin)
        del mask["id"]
        del mask["lang"]
        mask["mam_result"]["queryid"] = queryid
        collector = Collector("MAM_%s" % iq["id"], MatchXMLMask(str(mask)))
        self.xmpp.register_handler(collector)
        try:
            result = await iq.send(timeout=60)
        finally:
            results = collector.stop()
        fin = result["mam_fin"]
        last = fin["rsm"]["last"] or None
        return results, last, fin.xml.get("complete") == "true"

    async def catch_up(self):
        last = self.store.get_meta("archive_last_id")
        queryid = str(uuid.uuid4())
        fetched = 0
        latest = FIRST_LOGIN_WINDOW if last is None else 0
        try:
            while True:
                results, page_last, complete = await self.query_page(queryid, last, latest)
                for result in results:
                    fetched += 1
                    self.store_archived(result)
                if page_last is not None:
                    self.store.set_meta("archive_last_id", page_last)
                elif latest:
                    # An empty archive on a first login: next time, its start.
                    self.store.set_meta("archive_last_id", "")
                if latest or complete or page_last is None or page_last == last:
                    break
                last = page_last
                emit({"event": "catchup", "fetched": fetched, "complete": False})
        except (slixmpp.exceptions.IqError, slixmpp.exceptions.IqTimeout) as e:
            logging.warning("archive query failed: %s", e)
        except asyncio.CancelledError:
            return
        emit({"event": "catchup", "fetched": fetched, "complete": True})

    def store_archived(self, result):
        # Only our own server may answer our archive queries.
        if result["from"] and result["from"].bare != self.own:
            logging.warning("dropped an archive result from %s", result["from"])
            return
        archive_id = result["mam_result"]["id"]
        forwarded = result["mam_result"]["forwarded"]
        inner = forwarded["stanza"]
        if not inner["body"] or inner["type"] not in ("chat", "normal", ""):
            return
        stamp = forwarded["delay"]["stamp"]
        ts = int(stamp.timestamp() * 1000) if stamp else now_ms()
        origin = inner["origin_id"]["id"] or inner["id"] or None
        sender = inner["from"].bare
        if sender == self.own:
            peer = inner["to"].bare
            self.store.insert(peer, True, self.own, inner["body"], ts, origin, archive_id)
        else:
            self.store_incoming(sender, inner["body"], ts, origin, archive_id)

    # ------------------------------------------------------------ commands

    def history(self, with_jid, limit):
        messages = []
        for mid, outgoing, sender, body, ts, state in self.store.history(with_jid, limit):
            messages.append({
                "id": mid,
                "from": self.own if outgoing else with_jid,
                "to": with_jid if outgoing else self.own,
                "body": body,
                "timestamp": rfc3339(ts),
                "outgoing": bool(outgoing),
                "state": state,
            })
        emit({"event": "history", "with": with_jid, "messages": messages})

    async def handle(self, line):
        try:
            cmd = json.loads(line)
            name = cmd["cmd"]
        except (ValueError, KeyError, TypeError) as e:
            emit({"event": "error", "message": "invalid command: %s" % e})
            return True
        try:
            if name == "send":
                self.send(cmd["to"], cmd["body"])
            elif name == "history":
                self.history(cmd["with"], int(cmd.get("limit", 50)))
            elif name == "foreground":
                csi = self.xmpp.plugin["xep_0352"]
                csi.send_active() if cmd["active"] else csi.send_inactive()
            elif name == "quit":
                return False
            else:
                emit({"event": "error", "message": "unsupported command: %s" % name})
        except KeyError as e:
            emit({"event": "error", "message": "invalid command: missing %s" % e})
        return True

    async def run(self):
        loop = self.xmpp.loop
        reader = asyncio.StreamReader(limit=1 << 24)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        self.connect()
        while True:
            line = await reader.readline()
            if not line:
                break
            if line.strip() and not await self.handle(line.decode("utf-8")):
                break
        self.quitting = True
        if self.catch_up_task is not None:
            self.catch_up_task.cancel()
        self.xmpp.cancel_connection_attempt()
        try:
            # Bounded: quit while slixmpp is reconnecting (right after a
            # reset) can leave disconnect() waiting for a stream that never
            # comes, and the harness kills a peer that does not exit.
            await asyncio.wait_for(self.xmpp.disconnect(wait=2.0), timeout=5)
        except asyncio.TimeoutError:
            sys.stderr.write("slix_agent: disconnect did not finish within 5 s; exiting anyway\n")
        emit({"event": "state", "state": "disconnected"})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jid", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--server", required=True, metavar="HOST:PORT")
    parser.add_argument("--tls", choices=("direct", "starttls"), default="starttls")
    parser.add_argument("--ca", required=True, metavar="PEM_FILE")
    args = parser.parse_args()
    password = os.environ.get("JABBERKIT_PASSWORD")
    if not password:
        sys.stderr.write("slix_agent: set the password in JABBERKIT_PASSWORD\n")
        return 2
    logging.basicConfig(level=os.environ.get("SLIX_AGENT_LOG", "WARNING"), stream=sys.stderr)
    agent = Agent(args, password)
    agent.xmpp.loop.run_until_complete(agent.run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
