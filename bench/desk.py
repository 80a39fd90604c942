"""Benchmark: the inbox at a desk's size — 1,000,000 messages in 100,000 conversations.

The store is seeded through its own ingest (the path every channel uses), in batches, then measured:

- in the store (in this process): the conversation list page of 50, the unassigned + inbox filter, status +
  inbox + assignee + label together, Chinese (`提现`) and English (`withdrawal`) search with full recall
  (every matching conversation found when paged to the end), and opening a conversation of 5,000 messages;
- over HTTP against the daemon started on that store: the same list, filters and searches, the daemon's
  start-up time and its resident memory;
- in Chromium (`--browser`, Debian's chromium through Playwright): the inbox's first paint of the list,
  and how soon a new web chat message shows in the list after it was posted.

Every figure is printed beside the issue's target. The seeded store is kept between runs when `--db` is
given (seeding takes minutes; the store is measured as it is).

`--store postgresql` measures the PostgreSQL store instead: a throwaway PostgreSQL 15 started the way the
tests start theirs (tests/fakes/postgres.py; fsync on, as bench/instances.py runs it), or the database at
`--pg-url` (seeded when it holds no messages, else reused as it is: keep a seeded one that way).

Run from the repo root: .venv/bin/python bench/desk.py [--messages 1000000] [--browser] [--db PATH]
                        [--store postgresql [--pg-url postgresql://…]]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tpbridge.adapters.base import Inbound, Sender  # noqa: E402
from tpbridge.bridge.model import Role, Viewer  # noqa: E402
from tpbridge.bridge.store import open_store  # noqa: E402
from tpbridge.bridge.store.protocol import ConversationFilter, PreparedInbound, Store  # noqa: E402

from bench.ingest import pct  # noqa: E402
from tests.support.daemon import ADMIN_EMAIL, ADMIN_PASSWORD, Daemon, Visitor  # noqa: E402

INBOXES = ("webchat.site", "telegram.main", "email.support", "wechat.official", "x.main")
ADMIN_VIEWER = Viewer(0, Role.ADMIN, (), ())
BIG = 5000  # messages in the one long conversation
WARM = 60  # requests before the HTTP list and filters are timed (see http_figures)
INBOX_PAGE = 200  # messages the inbox loads when it opens a conversation (bridge/web/static/inbox.js)
SEARCHED = ("提现", "withdrawal")  # each searched in the store with full recall

ENGLISH = [
    "My withdrawal of {n} USDT has been pending for three days, order {o}.",
    "I cannot log in after resetting my password, the app says the code expired.",
    "Deposit {o} arrived but the balance still shows zero.",
    "How do I change the phone number on my account?",
    "The fee for sending {n} BTC looks too high, can you explain?",
    "Please close my account and delete my data.",
    "The app crashes when I open the swap page on Android 14.",
    "Thanks, that solved it!",
]
CHINESE = [
    "我的提现{n} USDT已经三天了还没有到账，订单号{o}。",
    "重置密码以后登录不了，验证码一直说过期。",
    "充值{o}已经到账了但是余额还是零。",
    "请问怎么修改账户绑定的手机号？",
    "转账手续费为什么这么高？",
    "请帮我注销账户并删除我的资料。",
    "打开兑换页面的时候应用闪退。",
    "谢谢，问题解决了！",
]

TARGETS = {
    "store list p50": 1.0, "store filters p50": 1.0, "store search p95": 50.0, "store open 5000 p50": 20.0,
    "http list p50": 5.0, "http filters p50": 5.0, "http search p95": 50.0, "http open 5000 p50": 20.0,
    "http list p50 (wrk)": 5.0, "http filters p50 (wrk)": 5.0,
    "start-up (s)": 2.0, "RSS (MB)": 150.0, "first paint (ms)": 1000.0, "new message visible (ms)": 200.0,
}


def text_for(rng: random.Random, conv: int, i: int) -> str:
    pool = CHINESE if conv % 2 else ENGLISH
    return rng.choice(pool).format(n=rng.randint(1, 5000), o=f"{conv:06d}{i:03d}")


def note_terms(expected: dict[str, set[int]], text: str, sender: int) -> None:
    for term in SEARCHED:
        if term in text.lower():
            expected[term].add(sender)


async def seed(store: Store, conversations: int, messages: int) -> dict[str, set[int]]:
    """Ingest `messages` over `conversations` senders (round-robin, so batches touch many conversations),
    plus one conversation of BIG messages; returns the senders (their numbers; -1 the long conversation's)
    whose text holds each term."""
    rng = random.Random(7)
    expected: dict[str, set[int]] = {term: set() for term in SEARCHED}
    start = datetime(2026, 1, 1, tzinfo=UTC)
    per = max(1, round((messages - BIG) / conversations))
    by_inbox: dict[str, list[PreparedInbound]] = {}
    done = 0
    t0 = time.perf_counter()

    async def flush() -> None:
        for inbox, items in by_inbox.items():
            if items:
                await store.ingest(inbox, inbox.split(".")[0], items, None)
        by_inbox.clear()

    for rnd in range(per):
        for conv in range(conversations):
            inbox = INBOXES[conv % len(INBOXES)]
            text = text_for(rng, conv, rnd)
            note_terms(expected, text, conv)
            rec = Inbound(inbox=inbox, external_id=f"m{conv}-{rnd}", sender=Sender(f"u{conv}", name=f"User {conv}"),
                          text=text, sent_at=start + timedelta(seconds=rnd * conversations + conv))
            by_inbox.setdefault(inbox, []).append(PreparedInbound(rec, None))
            done += 1
            if done % 2000 == 0:
                await flush()
            if done % 100_000 == 0:
                rate = done / (time.perf_counter() - t0)
                print(f"  seeded {done:,} messages ({rate:,.0f}/s)", flush=True)
    for i in range(BIG):
        text = text_for(rng, 1, i)
        note_terms(expected, text, -1)
        rec = Inbound(inbox="webchat.site", external_id=f"big-{i}", sender=Sender("u-big", name="Long Talker"),
                      text=text, sent_at=start + timedelta(days=300, seconds=i))
        by_inbox.setdefault("webchat.site", []).append(PreparedInbound(rec, None))
        if i % 2000 == 1999:
            await flush()
    await flush()
    while await store.index_search():
        pass
    print(f"  seeded {done + BIG:,} messages in {time.perf_counter() - t0:.0f} s", flush=True)
    return expected


async def timed(fn: Callable[[], Awaitable[Any]], n: int, warm: int = 1) -> list[float]:
    for _ in range(warm):
        await fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


async def store_figures(store: Store, expected: dict[str, set[int]] | None, rows: dict[str, float]) -> int:
    """`expected`: None for a reused store (its recall was checked when it was seeded)."""
    found = await store.agent_by_email("bench@example.com")  # a reused store has it already
    agent = found[0] if found else await store.add_agent("bench@example.com", "Bench", Role.ADMIN, None, [], [])
    viewer = await store.viewer(agent)
    first = (await store.list_conversations(viewer, ConversationFilter(status="all"), 50, None)).items
    for conv in first[:10]:  # something for the assignee and label filters to find
        await store.update_conversation(conv.id, assignee_id=agent.id, labels=["vip"])
    # A millisecond's figures on a shared machine: medians of a few hundred, after a warm-up.
    rows["store list p50"] = statistics.median(await timed(
        lambda: store.list_conversations(viewer, ConversationFilter(status="open"), 50, None), 200, warm=20))
    rows["store filters p50"] = statistics.median(await timed(lambda: store.list_conversations(
        viewer, ConversationFilter(status="open", inbox="telegram.main", assignee="unassigned"), 50, None), 100,
        warm=20) + await timed(lambda: store.list_conversations(viewer, ConversationFilter(
            status="open", inbox=first[0].inbox, assignee=str(agent.id), label="vip"), 50, None), 100, warm=20))
    searches: list[float] = []
    for term in SEARCHED:
        searches += await timed(lambda term=term: store.list_conversations(  # type: ignore[misc]
            viewer, ConversationFilter(status="all", q=term), 50, None), 20)
        found, cursor = 0, None
        while True:  # full recall: page to the end
            page = await store.list_conversations(viewer, ConversationFilter(status="all", q=term), 200, cursor)
            found += len(page.items)
            cursor = page.next_cursor
            if not cursor:
                break
        if expected is None:
            print(f"  search {term!r}: {found:,} conversations found", flush=True)
            continue
        want = expected[term]
        print(f"  search {term!r}: {found:,} conversations found, {len(want):,} expected", flush=True)
        if found != len(want):  # fewer: recall lost; more: a conversation without the term was found
            raise SystemExit(f"search {term!r} found {found} conversations, {len(want)} hold it")
    rows["store search p95"] = pct(searches, 95)
    conv_id = await biggest(store, viewer)
    # Opening it as the inbox does: the newest page of messages (INBOX_PAGE), and every message at once.
    rows["store open 5000 p50"] = statistics.median(await timed(
        lambda: store.list_messages(conv_id, limit=INBOX_PAGE), 20))
    rows["store all 5000 p50"] = statistics.median(await timed(lambda: store.list_messages(conv_id), 5))
    return conv_id


async def biggest(store: Store, viewer: Any) -> int:
    page = await store.list_conversations(viewer, ConversationFilter(status="all", inbox="webchat.site"), 5, None)
    for conv in page.items:
        if len(await store.list_messages(conv.id)) >= BIG:
            return conv.id
    raise SystemExit("the long conversation is not among the newest")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def http_figures(d: Daemon, conv_id: int, rows: dict[str, float]) -> None:
    async def get(path: str) -> None:
        status, _ = await d.api("GET", path)
        assert status == 200, (path, status)

    # The list as a desk that has been running a while gets it: psycopg prepares a statement on a pooled connection
    # at its fifth use there, and the pool hands its connections out in turn, so the first ~50 requests after
    # start-up are planned anew each time (PostgreSQL: ~10 ms against ~5 ms over HTTP, bench/README.md).
    rows["http list p50"] = statistics.median(await timed(lambda: get("/api/v1/conversations?limit=50"), 150,
                                                          warm=WARM))
    rows["http filters p50"] = statistics.median(await timed(lambda: get(
        "/api/v1/conversations?limit=50&assignee=unassigned&inbox=telegram.main"), 150, warm=WARM))
    searches: list[float] = []
    for term in SEARCHED:
        searches += await timed(lambda term=term: get(f"/api/v1/conversations?status=all&q={term}"), 20)  # type: ignore[misc]
    rows["http search p95"] = pct(searches, 95)
    rows["http open 5000 p50"] = statistics.median(await timed(
        lambda: get(f"/api/v1/conversations/{conv_id}/messages?limit={INBOX_PAGE}"), 20))
    rows["http all 5000 p50"] = statistics.median(await timed(
        lambda: get(f"/api/v1/conversations/{conv_id}/messages"), 5))
    # The same list and filters from wrk, a client in C: the rows above include this process's own aiohttp
    # client and JSON parsing (1-2 ms of a list request on this machine, bench/README.md D15).
    rows["http list p50 (wrk)"] = await wrk_p50(d, "/api/v1/conversations?limit=50")
    rows["http filters p50 (wrk)"] = await wrk_p50(
        d, "/api/v1/conversations?limit=50&assignee=unassigned&inbox=telegram.main")


async def wrk_p50(d: Daemon, path: str) -> float:
    """wrk's median latency (ms), one connection, one request at a time, after the same warm-up."""
    return (await wrk_run(d, path, 3.0))[0]


async def wrk_run(d: Daemon, path: str, seconds: float) -> tuple[float, int]:
    """wrk with one connection for `seconds`: its median latency (ms) and how many requests it made."""
    cmd = ["wrk", "-t1", "-c1", f"-d{seconds:g}s", "--latency", "-H", f"Authorization: Bearer {d.token}",
           d.url + path]
    out = (await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, check=True)).stdout
    value = next(line.split()[1] for line in out.splitlines() if line.strip().startswith("50%"))
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    requests = int(next(line.split()[0] for line in out.splitlines() if "requests in" in line))
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], requests


async def browser_figures(d: Daemon, rows: dict[str, float], admin: str) -> None:
    from playwright.async_api import async_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=args, headless=True)
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        await page.goto(d.url + "/login")
        await page.fill("input[name=email]", admin)
        await page.fill("input[name=password]", ADMIN_PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_selector("body[data-live='on']")
        paints = []
        for _ in range(5):  # the list page as an agent opens it: navigation start -> first row drawn
            await page.goto(d.url + "/")
            await page.wait_for_selector(".conv-item")
            paints.append(await page.evaluate("performance.now()"))
        rows["first paint (ms)"] = statistics.median(paints)
        await page.wait_for_selector("body[data-live='on']")
        await page.evaluate("""() => {
            window.__seen = {};
            new MutationObserver(() => {
                for (const li of document.querySelectorAll('.conv-item')) {
                    const m = /probe-(\\d+)/.exec(li.textContent);
                    if (m && !window.__seen[m[1]]) { window.__seen[m[1]] = Date.now(); }
                }
            }).observe(document.getElementById('conv-list'), {childList: true, subtree: true, characterData: true});
        }""")
        visitor = await Visitor(d).start()
        lags = []
        for i in range(10):
            sent = time.time() * 1000
            status, _ = await visitor.say(f"probe-{i} is my withdrawal there yet?")
            assert status == 201
            async with asyncio.timeout(10):  # the page's CSP forbids wait_for_function's eval: poll the stamp
                while (seen := await page.evaluate(f"window.__seen['{i}'] || 0")) == 0:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            lags.append(seen - sent)
        rows["new message visible (ms)"] = pct(lags, 99)
        await browser.close()


def report(rows: dict[str, float], messages: int, engine: str) -> None:
    print("=" * 72)
    print(f"the inbox at {messages:,} messages ({engine})")
    print("-" * 72)
    for name, value in rows.items():
        target = TARGETS.get(name)
        verdict = "" if target is None else ("PASS" if value < target else "MISS")
        shown = f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
        print(f"{verdict:5} {name:28}{shown:>12}   target < {target:g}" if target else f"      {name:28}{shown:>12}")
    print("=" * 72)


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--conversations", type=int, default=100_000)
    ap.add_argument("--db", type=Path, help="seed into (or reuse) this SQLite file")
    ap.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--pg-url", help="with --store postgresql: this database instead of a throwaway server")
    ap.add_argument("--browser", action="store_true", help="also measure the inbox in Chromium")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tpb-bench-desk-"))
    pg = None
    url = args.pg_url
    if args.store == "postgresql" and url is None:
        from tests.fakes.postgres import Postgres

        pg = Postgres(durable=True)
        url = pg.new_database()
    d = Daemon(work / "daemon", webchat=True, store_url=url)
    d.config_path.write_text(d.config_path.read_text().replace('log_level = "debug"', 'log_level = "info"'))
    db = d.data_dir / "tpbridge.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    rows: dict[str, float] = {}
    try:
        if url is not None:
            store = open_store(url, work)
            await store.open()
            reuse = await seeded(store)
        else:
            reuse = args.db is not None and args.db.exists()
            if reuse:
                shutil.copy(args.db, db)
            store = open_store(f"sqlite:///{db}", work)
            await store.open()
        rng_expected = None if reuse else await seed(store, args.conversations, args.messages)
        conv_id = await store_figures(store, rng_expected, rows)
        await store.close()
        if url is None and args.db is not None and not reuse:
            shutil.copy(db, args.db)
        # A reused PostgreSQL database has the admin of an earlier run: each run logs in as an agent of its own.
        admin = ADMIN_EMAIL if not (url and reuse) else f"admin-{time.time_ns()}@example.com"
        d.token = d.add_agent(admin, "Admin", role="admin")  # before the clock: start-up is the daemon's
        t0 = time.perf_counter()
        async with d:
            rows["start-up (s)"] = time.perf_counter() - t0
            await http_figures(d, conv_id, rows)
            assert d.proc is not None
            rows["RSS (MB)"] = rss_mb(d.proc.pid)
            if args.browser:
                await browser_figures(d, rows, admin)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if pg is not None:
            pg.destroy()
    report(rows, args.messages, "PostgreSQL" if url is not None else "SQLite")
    return 0


async def seeded(store: Store) -> bool:
    """A PostgreSQL database given with --pg-url that holds messages already is measured as it is."""
    page = await store.list_conversations(ADMIN_VIEWER, ConversationFilter(status="all"), 1, None)
    return bool(page.items)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
