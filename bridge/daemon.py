"""The supervisor: web app, adapters, outbox workers and automation under one roof.

A crashed adapter is logged with its traceback and restarted with capped, jittered
backoff (errbot's serve_forever); it never takes the others down. SIGTERM stops
receiving, drains in-flight sends, closes the store and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import hashlib
import signal
import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from tpbridge.adapters.base import Adapter, AdapterContext, BadCredentials, ChannelState, backoff
from tpbridge.bridge import handover
from tpbridge.bridge.automation import Automation
from tpbridge.bridge.config import Config
from tpbridge.bridge.core import Core
from tpbridge.bridge.crypto import KeyProblem
from tpbridge.bridge.metrics import Metrics
from tpbridge.bridge.model import utcnow
from tpbridge.bridge.outbox import InboxWorker, Outbox
from tpbridge.bridge.phone import Phone
from tpbridge.bridge.pipeline import InboxSink
from tpbridge.bridge.privacy import rekey, retention
from tpbridge.bridge.privacy.commands import PrivacyCommands
from tpbridge.bridge.systemd_notify import Notifier
from tpbridge.bridge.web.app import build_app

log = structlog.get_logger(__name__)

STOP_TIMEOUT = 8.0  # SIGTERM to exit, well inside systemd's and the spec's 10 s
HEALTHY_RUN = 60.0
ADAPTER_START_WAIT = 15.0  # an adapter that ran this long starts its backoff from scratch
INDEX_INTERVAL = 0.5  # seconds between search index catch-ups
GC_THRESHOLDS = (10_000, 20, 20)  # young objects collected every 10,000 allocations, not 700 (see settle_heap)


class StartError(Exception):
    """A start-up problem with one clear line for the operator (port in use, store unreadable)."""


async def supervise(name: str, run: Callable[[], Awaitable[None]], *, inbox: str | None = None) -> None:
    """Run `run` forever: restart it with backoff when it returns or raises."""
    attempt = 0
    lg = log.bind(task=name, inbox=inbox)
    while True:
        started = time.monotonic()
        try:
            await run()
            lg.warning("task.returned")
        except asyncio.CancelledError:
            raise
        except Exception:
            lg.exception("task.crashed")
        attempt = 1 if time.monotonic() - started > HEALTHY_RUN else attempt + 1
        await asyncio.sleep(backoff(attempt, base=1.0, cap=60.0))


async def run_adapter(core: Core, inbox: str, adapter: Adapter, sink: InboxSink,
                      settled: asyncio.Event | None = None) -> None:
    """One adapter's life: enter (credentials checked), run until the connection is lost, exit, again.

    `settled` is set once the first attempt to enter finished, well or badly: READY waits for it.
    """
    settled = settled or asyncio.Event()
    attempt = 0
    lg = log.bind(inbox=inbox)
    while True:
        started = time.monotonic()
        delay_cap = 60.0
        try:
            sink.report(ChannelState.CONNECTING)
            async with adapter:
                state = core.health.get(inbox)
                if state is None or state.state is ChannelState.CONNECTING:
                    sink.report(ChannelState.CONNECTED)
                settled.set()
                await adapter.run(sink)
            lg.warning("adapter.disconnected")
            sink.report(ChannelState.TRANSIENT_DISCONNECT, reason="connection closed")
        except asyncio.CancelledError:
            raise
        except BadCredentials as exc:
            sink.report(ChannelState.BAD_CREDENTIALS, reason=str(exc) or "credentials refused")
            delay_cap = 300.0  # nothing changes until the operator fixes the config: ask rarely
        except Exception as exc:
            lg.exception("adapter.crashed")
            sink.report(ChannelState.TRANSIENT_DISCONNECT, reason=f"{type(exc).__name__}: {exc}")
        settled.set()
        attempt = 1 if time.monotonic() - started > HEALTHY_RUN else attempt + 1
        await asyncio.sleep(backoff(attempt, base=1.0, cap=delay_cap))


async def wake_snoozed(core: Core) -> None:
    """Snoozed conversations come back as open when their time is up."""
    while True:
        for conv_id in await core.store.due_snoozes(utcnow().timestamp()):
            await core.desk.set_status(conv_id, "open")
        await asyncio.sleep(15)


async def index_search(core: Core) -> None:
    """Search terms follow the messages in batches (store/sqlite/search_index.py); searches catch up
    on their own, this keeps the backlog short."""
    while True:
        await asyncio.sleep(INDEX_INTERVAL)
        await core.store.index_search()


async def watchdog(notifier: Notifier) -> None:
    assert notifier.watchdog_interval is not None
    while True:
        notifier.watchdog()
        await asyncio.sleep(notifier.watchdog_interval)


def settle_heap() -> None:
    """Keep the cyclic garbage collector off what lives as long as the process.

    Modules, config, routes and templates made at start would otherwise be traversed by every
    full collection, and young objects collected every 700 allocations: together about 4 % of
    a busy daemon's time, with the GIL held (bench/README.md). Frozen, they are never scanned;
    collections still run, less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def webhook_path(kind: str, inbox: str) -> str:
    """Where an inbox's webhook routes are mounted: `/hooks/<kind>/<name>` (README, "Channels")."""
    return f"/hooks/{kind}/{inbox.partition('.')[2] or inbox}"


def assemble(config: Config) -> Core:
    """Build the core, the adapters and their outbox workers (nothing started yet)."""
    core = Core.build(config)
    core.extras["metrics"] = metrics = Metrics()
    metrics.follow(core.bus)
    workers: dict[str, InboxWorker] = {}
    for ch in config.enabled_channels:
        sink = InboxSink(ch.name, ch.kind, core.pipeline, core.health, anonymous=ch.settings.anonymous)
        ctx = AdapterContext(sink=sink, public_url=config.http.public_url, data_dir=config.data_dir,
                             webhook_path=webhook_path(ch.kind, ch.name))
        adapter = ch.adapter_class(ch.name, ch.settings, ctx)
        core.adapters[ch.name] = adapter
        core.sinks[ch.name] = sink
        workers[ch.name] = InboxWorker(ch.name, adapter, core.store, core.bus, core.files, core.health)
    core.outbox = Outbox(workers)
    core.extras["privacy"] = PrivacyCommands(core)
    return core


async def serve(config: Config, *, stop: asyncio.Event | None = None) -> int:
    notifier = Notifier()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    core = assemble(config)
    try:
        await core.store.open()
    except KeyProblem:
        raise  # one clear line, exit 2 (bridge/cli.py)
    except Exception as exc:
        raise StartError(f"store.url: cannot open the store: {exc}") from exc
    for name, team in config.teams.items():
        await core.store.ensure_team(name, team.inboxes)
    # The configuration takes effect at start: which file, and which version of it, is on record.
    await core.audit.record("config_load", object=f"config:{config.path}", address="daemon",
                            sha256=hashlib.sha256(config.path.read_bytes()).hexdigest())
    if not await core.store.list_agents():
        log.warning("setup.no_agents", hint="create the first agent: tpbridge agent add you@example.com "
                    "--name 'Your Name' --role admin")

    app = build_app(core)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, config.http.host, config.http.port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        await core.store.close()
        why = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be opened ({exc.strerror})"
        raise StartError(f"http.listen: {config.http.listen} {why}") from exc
    settle_heap()
    log.info("daemon.listening", listen=config.http.listen, inboxes=sorted(core.adapters),
             chat=f"{config.http.public_url}/chat")

    receivers: list[asyncio.Task[None]] = []
    others: list[asyncio.Task[None]] = []
    settled: list[asyncio.Event] = []
    for inbox, adapter in core.adapters.items():
        settled.append(asyncio.Event())
        receivers.append(asyncio.create_task(run_adapter(core, inbox, adapter, core.sinks[inbox], settled[-1]),
                                             name=f"adapter-{inbox}"))
    for inbox, worker in core.outbox.workers.items():
        others.append(asyncio.create_task(supervise(f"outbox-{inbox}", worker.run, inbox=inbox)))
    automation = Automation(core)
    phone = Phone(core)
    others.append(asyncio.create_task(supervise("handover", lambda: handover.run(core, phone))))
    others.append(asyncio.create_task(supervise("automation", automation.run)))
    others.append(asyncio.create_task(supervise("snoozes", lambda: wake_snoozed(core))))
    others.append(asyncio.create_task(supervise("search-index", lambda: index_search(core))))
    others.append(asyncio.create_task(supervise("privacy-commands", core.extras["privacy"].run)))
    others.append(asyncio.create_task(supervise("retention", lambda: retention.run_daily(core))))
    others.append(asyncio.create_task(supervise(
        "rekey", lambda: rekey.in_background(core.store, core.files, config.data_dir))))
    if notifier.watchdog_interval:
        others.append(asyncio.create_task(watchdog(notifier)))
    # Ready once every adapter tried to connect (a slow or failing channel does not hold up the rest).
    waits = [asyncio.create_task(e.wait()) for e in settled]
    if waits:
        _, pending = await asyncio.wait(waits, timeout=ADAPTER_START_WAIT)
        for w in pending:
            w.cancel()
    notifier.ready()
    log.info("daemon.ready")

    await stop.wait()
    log.info("daemon.stopping")
    notifier.stopping()
    deadline = time.monotonic() + STOP_TIMEOUT
    # 1. stop receiving: adapters first (their acknowledged work is committed), then HTTP.
    for task in receivers:
        task.cancel()
    if receivers:
        await asyncio.wait(receivers, timeout=2.0)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(site.stop(), timeout=2.0)
    # 2. drain in-flight sends: each is recorded before we go.
    await core.outbox.drain(max(0.5, deadline - time.monotonic() - 1.5))
    for task in others:
        task.cancel()
    if others:
        await asyncio.wait(others, timeout=1.0)
    core.bus.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(runner.cleanup(), timeout=max(0.2, deadline - time.monotonic() - 0.5))
    await core.store.close()
    log.info("daemon.stopped")
    return 0
