"""The baseline: a bare aiohttp server that stores each posted message in SQLite before answering.

As little as a durable HTTP ingest can be, so the daemon's figures have a floor
to be compared with: one writer thread on one WAL connection drains whatever is
queued and commits it in ONE transaction (group commit, no batching timer),
checkpoints run from their own thread (PASSIVE each second, RESTART once the
WAL is big, as the daemon does), and a request gets its 200 only after the
COMMIT that holds its row returned. Same route shape and JSON body as the
web chat (`POST /chat/api/messages {"text", "client_id"}`, `Authorization:
Bearer`), duplicates of a client id stored once.

Run: python bench/baseline_server.py --port 8099 --db /tmp/baseline.db
It prints `READY <port>` on stdout once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import queue
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

from aiohttp import web

_STOP = object()
TELEGRAM_SECRET = "bench-webhook-secret"


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class GroupWriter:
    """One thread, one connection: drain the queue, one transaction per drain, then resolve."""

    def __init__(self, path: Path) -> None:
        self.conn = connect(path)
        self.conn.execute("PRAGMA wal_autocheckpoint=0")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, sender TEXT NOT NULL,"
            " client_id TEXT NOT NULL, text TEXT NOT NULL, created_at REAL NOT NULL)"
        )
        self.conn.execute("CREATE UNIQUE INDEX IF NOT EXISTS messages_client ON messages (sender, client_id)")
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="baseline-writer", daemon=True)

    async def insert(self, sender: str, client_id: str, text: str) -> int | None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int | None] = loop.create_future()
        self.queue.put(((sender, client_id, text, time.time()), loop, fut))
        return await fut

    def _run(self) -> None:
        conn = self.conn
        while True:
            item = self.queue.get()
            if item is _STOP:
                return
            batch = [item]
            while True:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            stop = batch[-1] is _STOP
            if stop:
                batch.pop()
            ids: list[int | None] = []
            conn.execute("BEGIN IMMEDIATE")
            for row, _loop, _fut in batch:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO messages (sender, client_id, text, created_at) VALUES (?, ?, ?, ?)", row)
                ids.append(cur.lastrowid if cur.rowcount else None)
            conn.execute("COMMIT")
            for (_row, loop, fut), mid in zip(batch, ids, strict=True):
                loop.call_soon_threadsafe(_resolve, fut, mid)
            if stop:
                return


def _resolve(fut: asyncio.Future[int | None], value: int | None) -> None:
    if not fut.cancelled():
        fut.set_result(value)


def checkpointer(path: Path, stop: threading.Event) -> None:
    """The daemon's checkpoint policy (bridge/store/sqlite/writer.py Checkpointer), so neither side
    is slowed by a WAL that is never restarted under steady writes."""
    conn = connect(path)
    while not stop.wait(1.0):
        try:
            _busy, frames, _done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if frames > 4096:
                conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        except sqlite3.Error:
            pass


def make_app(writer: GroupWriter) -> web.Application:
    async def post(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return web.json_response({"error": "unauthorized"}, status=401)
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.json_response({"error": "bad_json"}, status=400)
        text, client_id = body.get("text"), body.get("client_id")
        if not isinstance(text, str) or not text.strip() or not isinstance(client_id, str):
            return web.json_response({"error": "invalid"}, status=422)
        mid = await writer.insert(auth[7:], client_id, text)
        return web.json_response({"id": mid, "client_id": client_id, "duplicate": mid is None})

    async def telegram(request: web.Request) -> web.Response:
        """The Telegram webhook's floor: check the secret header, parse the update, store its text keyed by
        (chat id, message id), 200 after commit (bench/telegram_webhook.py)."""
        if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != TELEGRAM_SECRET:
            return web.json_response({"error": "unauthorized"}, status=401)
        try:
            update = json.loads(await request.read())
            message = update["message"]
            chat, message_id, text = str(message["chat"]["id"]), str(message["message_id"]), message["text"]
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": "bad_update"}, status=400)
        await writer.insert(chat, message_id, text)
        return web.Response(status=200)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/chat/api/messages", post)
    app.router.add_post("/hooks/telegram/{name}", telegram)
    app.router.add_get("/healthz", health)
    return app


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--db", type=Path, required=True)
    args = ap.parse_args()
    writer = GroupWriter(args.db)
    writer.thread.start()
    stop = threading.Event()
    threading.Thread(target=checkpointer, args=(args.db, stop), daemon=True).start()
    runner = web.AppRunner(make_app(writer), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port, backlog=1024).start()
    print(f"READY {args.port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        writer.queue.put(_STOP)
        writer.thread.join(5)
        stop.set()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
