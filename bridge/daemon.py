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
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any

import structlog
from aiohttp import web
from tpbridge.adapters import uploads
from tpbridge.adapters.base import Adapter, AdapterContext, BadCredentials, ChannelState, Polls, backoff
from tpbridge.bridge import handover
from tpbridge.bridge.attachments import removal
from tpbridge.bridge.automation import Automation
from tpbridge.bridge.config import Config, HttpSection
from tpbridge.bridge.core import Core
from tpbridge.bridge.crypto import KeyProblem
from tpbridge.bridge.followup import FollowUps
from tpbridge.bridge.lease import LeaseLost, exclusive
from tpbridge.bridge.metrics import Metrics
from tpbridge.bridge.model import utcnow
from tpbridge.bridge.outbox import InboxWorker, Outbox
from tpbridge.bridge.phone import Phone
from tpbridge.bridge.pipeline import InboxSink
from tpbridge.bridge.privacy import rekey, retention
from tpbridge.bridge.privacy.commands import PrivacyCommands
from tpbridge.bridge.relay import relay
from tpbridge.bridge.store.protocol import StoreUnavailable
from tpbridge.bridge.systemd_notify import Notifier
from tpbridge.bridge.web.app import build_app, build_metrics_app

log = structlog.get_logger(__name__)

STOP_TIMEOUT = 8.0  # SIGTERM to exit, well inside systemd's and the spec's 10 s
HEALTHY_RUN = 60.0
ADAPTER_START_WAIT = 15.0  # an adapter that ran this long starts its backoff from scratch
INDEX_INTERVAL = 0.5  # seconds between search index catch-ups
GC_THRESHOLDS = (10_000, 20, 20)  # young objects collected every 10,000 allocations, not 700 (see settle_heap)


class StartError(Exception):
    """A start-up problem with one clear line for the operator (port in use, store unreadable)."""


async def supervise(name: str, run: Callable[[], Awaitable[None]], *, inbox: str | None = None,
                    finished: Callable[[], bool] = lambda: False) -> None:
    """Run `run` forever: restart it with backoff when it returns or raises.

    A task that returns because it was told to stop (`finished()`, e.g. a drained outbox worker)
    is done, not restarted.
    """
    attempt = 0
    lg = log.bind(task=name, inbox=inbox)
    while True:
        started = time.monotonic()
        try:
            await run()
            if finished():
                return
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
                if isinstance(adapter, Polls) and adapter.polls():
                    await exclusive(core.store, f"poll:{inbox}", core.instance, partial(adapter.run, sink),
                                    on_standby=partial(sink.report, ChannelState.CONNECTED,
                                                       reason="standby: another instance polls"))
                else:
                    await adapter.run(sink)
            lg.warning("adapter.disconnected")
            sink.report(ChannelState.TRANSIENT_DISCONNECT, reason="connection closed")
        except asyncio.CancelledError:
            raise
        except LeaseLost:
            sink.report(ChannelState.TRANSIENT_DISCONNECT, reason="lost the polling lease")
        except BadCredentials as exc:
            sink.report(ChannelState.BAD_CREDENTIALS, reason=str(exc) or "credentials refused")
            delay_cap = 300.0  # nothing changes until the operator fixes the config: ask rarely
        except StoreUnavailable as exc:  # nothing was acknowledged to the channel: it comes again, once
            lg.warning("adapter.store_unavailable", error=str(exc)[:200])  # expected: no traceback per retry
            sink.report(ChannelState.TRANSIENT_DISCONNECT, reason=f"{type(exc).__name__}: {exc}")
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


class Stopping:
    """The shutdown's deadline, fixed when the first undo step runs (SIGTERM, or a failed start)."""

    def __init__(self) -> None:
        self._at: float | None = None

    def begin(self) -> None:
        if self._at is None:
            self._at = time.monotonic() + STOP_TIMEOUT

    def left(self, reserve: float, floor: float) -> float:
        """Seconds a step may take, keeping `reserve` for the steps after it, and never below `floor`."""
        self.begin()
        assert self._at is not None
        return max(floor, self._at - time.monotonic() - reserve)


class Tasks:
    """Long-running tasks started together and cancelled together."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self.tasks.append(asyncio.create_task(coro, name=name))

    async def cancel(self, timeout: float) -> None:
        """Cancel, and cancel again what is still running: Python 3.11's wait_for can swallow a
        cancellation that arrives as its inner wait completes (bpo-42130)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pending = {t for t in self.tasks if not t.done()}
        while pending and (left := deadline - loop.time()) > 0:
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=min(left, 0.1))


async def start(config: Config, stack: contextlib.AsyncExitStack, notifier: Notifier,
                stop: asyncio.Event) -> tuple[Core, list[asyncio.Event]]:
    """Open the store, the web app, the adapters and the workers, in that order.

    Each step pushes its undo on `stack` as soon as it succeeded, so whatever raises later
    (here, or in the caller) closes exactly what was opened, in reverse order: receivers
    first (their acknowledged work is committed), then HTTP, then the outbox drains its
    in-flight sends, then the other workers, the event bus, the web app, the store.
    Returns the core and one event per adapter, set once it tried to connect.
    """
    stopping = Stopping()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
        stack.callback(loop.remove_signal_handler, sig)
    stack.callback(log.info, "daemon.stopped")

    core = assemble(config)
    try:
        await core.store.open()
    except KeyProblem:
        raise  # one clear line, exit 2 (bridge/cli.py)
    except Exception as exc:
        raise StartError(f"store.url: cannot open the store: {exc}") from exc
    stack.push_async_callback(core.store.close)
    left = await asyncio.to_thread(uploads.clear_spool, config.data_dir)  # before anything can spool anew
    if left:
        log.warning("uploads.spool_cleared", files=left)
    for name, team in config.teams.items():
        await core.store.ensure_team(name, team.inboxes)
    # The configuration takes effect at start: which file, and which version of it, is on record.
    await core.audit.record("config_load", object=f"config:{config.path}", address="daemon",
                            sha256=hashlib.sha256(config.path.read_bytes()).hexdigest())
    if not await core.store.list_agents():
        log.warning("setup.no_agents", hint="create the first agent: tpbridge agent add you@example.com "
                    "--name 'Your Name' --role admin")

    # aiohttp's keep-alive timeout also runs from the connection's start until a request's headers
    # are complete: it is the header read timeout that stops slow clients holding connections.
    runner = web.AppRunner(build_app(core), handle_signals=False, access_log=None, shutdown_timeout=2.0,
                           keepalive_timeout=config.http.header_timeout)
    await runner.setup()

    async def close_web_app() -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(runner.cleanup(), timeout=stopping.left(0.5, 0.2))

    stack.push_async_callback(close_web_app)
    stack.callback(core.bus.close)  # before the web app: it ends the open event streams
    site = web.TCPSite(runner, config.http.host, config.http.port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        why = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be opened ({exc.strerror})"
        raise StartError(f"http.listen: {config.http.listen} {why}") from exc
    listening = True

    async def stop_listening() -> None:
        nonlocal listening
        if listening:
            listening = False
            with contextlib.suppress(Exception):
                await asyncio.wait_for(site.stop(), timeout=2.0)

    stack.push_async_callback(stop_listening)
    if config.http.metrics_listen is not None:
        await serve_metrics(core, config.http, stack)
    settle_heap()
    log.info("daemon.listening", listen=config.http.listen, inboxes=sorted(core.adapters),
             chat=f"{config.http.public_url}/chat", attachments=core.files.where())

    others = Tasks()
    stack.push_async_callback(others.cancel, 1.0)
    stack.push_async_callback(lambda: core.outbox.drain(stopping.left(1.5, 0.5)))  # each send recorded
    receivers = Tasks()

    async def stop_receiving() -> None:
        await receivers.cancel(2.0)
        await stop_listening()

    stack.push_async_callback(stop_receiving)
    stack.callback(notifier.stopping)
    stack.callback(stopping.begin)

    settled: list[asyncio.Event] = []
    for inbox, adapter in core.adapters.items():
        settled.append(asyncio.Event())
        receivers.start(run_adapter(core, inbox, adapter, core.sinks[inbox], settled[-1]), f"adapter-{inbox}")
    for inbox, worker in core.outbox.workers.items():
        others.start(supervise(f"outbox-{inbox}", worker.run, inbox=inbox, finished=worker.stopping),
                     f"outbox-{inbox}")
    automation = Automation(core)
    phone = Phone(core)
    others.start(supervise("handover", lambda: handover.run(core, phone)), "handover")
    others.start(supervise("follow-ups", FollowUps(core).run), "follow-ups")
    others.start(supervise("automation", automation.run), "automation")
    others.start(supervise("snoozes", lambda: wake_snoozed(core)), "snoozes")
    others.start(supervise("search-index", lambda: index_search(core)), "search-index")
    others.start(supervise("privacy-commands", core.extras["privacy"].run), "privacy-commands")
    others.start(supervise("retention", lambda: retention.run_daily(core)), "retention")
    others.start(supervise("relay", lambda: relay(core)), "relay")
    others.start(supervise("rekey", lambda: rekey.in_background(core.store, core.files, config.data_dir)), "rekey")
    others.start(supervise("attachments", lambda: removal.retry_forever(core.files, core.store)), "attachments")
    if notifier.watchdog_interval:
        others.start(watchdog(notifier), "watchdog")
    return core, settled


async def serve_metrics(core: Core, http: HttpSection, stack: contextlib.AsyncExitStack) -> None:
    """/metrics on its own address (`[http] metrics_listen`), closed with the rest."""
    assert http.metrics_listen is not None
    runner = web.AppRunner(build_metrics_app(core), handle_signals=False, access_log=None,
                           keepalive_timeout=http.header_timeout)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    host, _, port = http.metrics_listen.rpartition(":")
    site = web.TCPSite(runner, host.strip("[]"), int(port), reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        why = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be opened ({exc.strerror})"
        raise StartError(f"http.metrics_listen: {http.metrics_listen} {why}") from exc


async def serve(config: Config, *, stop: asyncio.Event | None = None) -> int:
    """Run until SIGTERM/SIGINT (or `stop`); everything opened is closed however this ends."""
    notifier = Notifier()
    stop = stop or asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        _, settled = await start(config, stack, notifier, stop)
        # Ready once every adapter tried to connect (a slow or failing channel does not hold up the rest).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ADAPTER_START_WAIT):
                for event in settled:
                    await event.wait()
        notifier.ready()
        log.info("daemon.ready")
        await stop.wait()
        log.info("daemon.stopping")
    return 0
