"""Support automation: FAQ bot, language, classification, routing, queue, hours, surveys, reports.

Automation consumes events and acts through the Desk like an agent; it sends nothing itself.
Its state per conversation lives in `conversation.attrs["automation"]`:
stage (None -> "bot" -> "human"), what the bot tried, the acknowledgement given,
the survey asked.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from tpbridge.bridge.automation.classify import Classifier, RuleClassifier, RulesError
from tpbridge.bridge.automation.examples import ExamplesError
from tpbridge.bridge.automation.faq import FaqError, KnowledgeBase
from tpbridge.bridge.automation.hours import Hours
from tpbridge.bridge.automation.language import LanguageDetector
from tpbridge.bridge.automation.llm import LlmClient
from tpbridge.bridge.automation.templates import TemplateError, Templates
from tpbridge.bridge.automation.understand import Understander
from tpbridge.bridge.events import CONVERSATION_UPDATED, MESSAGE_CREATED, Event, Subscription, from_change
from tpbridge.bridge.model import BOT, AuthorKind, Conversation, Direction, Status

if TYPE_CHECKING:
    from tpbridge.bridge.core import Core
    from tpbridge.bridge.store.protocol import Change, Store

log = structlog.get_logger(__name__)

REPLAY_CHUNK = 200  # events read back from the store at once after a burst (bridge/events.py: spill)


class AutomationMetrics:
    """Counters and histograms on the daemon's registry, so /metrics shows them."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.bot_answers = Counter("tpbridge_bot_answers", "FAQ answers sent by the bot", ["inbox", "entry"],
                                   registry=registry)
        self.bot_resolved = Counter("tpbridge_bot_resolved", "Conversations the bot resolved (deflected)",
                                    ["inbox"], registry=registry)
        self.handoffs = Counter("tpbridge_handoffs", "Conversations handed to humans", ["inbox", "reason"],
                                registry=registry)
        self.classified = Counter("tpbridge_conversations_classified", "Handoffs by category", ["category"],
                                  registry=registry)
        self.surveys = Counter("tpbridge_survey_answers", "Satisfaction answers by score", ["score"],
                               registry=registry)
        self.queue = Gauge("tpbridge_queue_length", "Conversations waiting for an agent", ["team"],
                           registry=registry)
        self.first_response = Histogram(
            "tpbridge_first_response_seconds", "Handoff or reopen to the first human reply, in business hours",
            ["team"], registry=registry,
            buckets=(30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400))


def _registry(core: Core) -> CollectorRegistry:
    metrics = core.extras.get("metrics")
    registry = getattr(metrics, "registry", None)
    return registry if isinstance(registry, CollectorRegistry) else CollectorRegistry()


class Automation:
    def __init__(self, core: Core, *, classifier: Classifier | None = None) -> None:
        self.core = core
        self.settings = core.config.automation
        self.teams = core.config.teams
        base = core.config.config_dir
        self.kb = KnowledgeBase([])
        self.templates = Templates({}, self.settings.default_language)
        rules = RuleClassifier([])
        self.load_error: str | None = None
        self.brain = Understander(self.settings, rules, self.kb, [], None)
        try:
            # Paths are relative to [bridge].config_dir (an absolute path stays as it is).
            self.kb = KnowledgeBase.load(base / self.settings.faq_dir)
            self.templates = Templates.load(base / self.settings.templates_dir, self.settings.default_language)
            rules = RuleClassifier.from_toml(base / self.settings.classify_rules)
            self.brain = Understander.load(self.settings, rules, self.kb, base / self.settings.examples_dir,
                                           core.config.data_dir)
        except (FaqError, TemplateError, RulesError, ExamplesError) as exc:
            self.load_error = str(exc)
        # A classifier handed in (tests, plug-ins) replaces rules + model; security rules then come from it alone.
        self.classifier: Classifier = classifier or self.brain.classifier
        if classifier is not None:
            self.brain.classifier = classifier
        self.detector: LanguageDetector = self.brain.detector
        self.llm = LlmClient(self.settings.llm)
        self.alerts_lock = asyncio.Lock()  # one delivery pass at a time (the sweep and a new incident)
        self.hours = {name: Hours.of(team) for name, team in self.teams.items()}
        self.metrics = AutomationMetrics(_registry(core))
        self.store: Store = core.store
        self.desk = core.desk
        self._kick = asyncio.Event()
        self.handled = 0  # events handled: lets tests wait for the automation to catch up
        core.extras["automation"] = self

    # ------------------------------------------------------------------ helpers for the flows
    def team_hours(self, team: str | None) -> Hours:
        return self.hours.get(team or "", Hours.of(None))

    def language(self, conv: Conversation) -> str:
        return conv.language or self.settings.default_language

    @staticmethod
    def state(conv: Conversation) -> dict[str, Any]:
        found = conv.attrs.get("automation")
        return dict(found) if isinstance(found, dict) else {}

    async def prepare_models(self) -> None:
        """Train or load the classifier and build the language detector, off the event loop."""
        if not self.brain.ready:
            await asyncio.to_thread(self.brain.prepare)

    async def say(self, conv: Conversation, text: str, *, extra: dict[str, Any] | None = None,
                  public_ok: bool = False) -> bool:
        """An automatic reply, through the outbox like an agent's; False when it was held back.

        Whatever the channel flags, a conversation never gets more than
        `max_auto_replies_per_hour` automatic messages: two bots answering each other stop here.
        Nothing automatic is posted into a public thread (X mentions) but the short pointer to
        DMs (`public_ok`): an acknowledgement, FAQ answer or survey there would be public.
        """
        if conv.public and not public_ok:
            log.info("automation.reply_suppressed", inbox=conv.inbox, conversation_id=conv.id, reason="public_thread")
            return False
        since = self.now().timestamp() - 3600
        if await self.store.auto_replies_since(conv.id, since) >= self.settings.max_auto_replies_per_hour:
            log.warning("automation.reply_suppressed", inbox=conv.inbox, conversation_id=conv.id,
                        reason="max_auto_replies_per_hour")
            return False
        await self.desk.reply(conv.id, text, author=BOT, auto=True, extra=extra)
        return True

    async def set_state(self, conv_id: int, **fields: Any) -> Conversation:
        return await self.desk.update(conv_id, attrs={"automation": fields})

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)

    def kick(self) -> None:
        """Look at the queues now (an agent freed up, a conversation was queued)."""
        self._kick.set()

    # ------------------------------------------------------------------ the loop
    async def prepare(self) -> None:
        for name, team in self.teams.items():
            await self.store.ensure_team(name, team.inboxes)
            if team.lead:
                await self.store.set_team_lead(name, team.lead)

    async def run(self) -> None:
        """Consume the event bus until cancelled (run under the daemon's supervisor)."""
        if not self.settings.enabled:
            log.info("automation.disabled", hint="set [automation] enabled = true in tpbridge.toml")
            await asyncio.Event().wait()
        if self.load_error is not None:
            # A broken knowledge base must not answer people with half a bot: stay off, say why, once.
            log.error("automation.config_invalid", problem=self.load_error)
            await asyncio.Event().wait()
        with self.core.bus.subscribe(spill=True) as sub:
            # Subscribed first, so what arrives while the models load waits in the queue, not lost.
            await self.prepare_models()
            await self.prepare()
            await self._consume(sub)

    async def _consume(self, sub: Subscription) -> None:
        if not self.kb.entries:
            log.warning("automation.no_faq", path=str(self.core.config.config_dir / self.settings.faq_dir))
        if not self.templates.by_language:
            log.warning("automation.no_templates",
                        path=str(self.core.config.config_dir / self.settings.templates_dir))
        log.info("automation.started", faq_entries=len(self.kb.entries), languages=self.settings.languages,
                 teams=sorted(self.teams), learned_model=self.brain.has_model)
        sweeper = asyncio.create_task(self._sweep_forever(), name="automation-sweep")
        try:
            while True:
                if sub.spilled and sub.queue.empty():
                    await self._replay(sub.take_spilled())
                    continue
                event = await sub.queue.get()
                if event is None:
                    return
                await self.handle(event)
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper

    async def _replay(self, spilled: list[Change]) -> None:
        """Events that did not fit in the queue during a burst, read back from the store (as bridge/relay.py does
        for other instances' events): every message is still seen, in order, however long the burst."""
        log.warning("automation.catching_up", events=len(spilled))
        for start in range(0, len(spilled), REPLAY_CHUNK):
            chunk = spilled[start:start + REPLAY_CHUNK]
            convs, msgs = await self.store.changed_rows([ch for ch in chunk if ch.gone is None])
            for ch in chunk:
                if (event := from_change(ch, convs, msgs)) is None:
                    self.handled += 1
                    continue  # erased since
                await self.handle(event)
        log.info("automation.caught_up", events=len(spilled))

    async def handle(self, event: Event) -> None:
        """One event; a failure is logged with its conversation and never stops the loop."""
        from tpbridge.bridge import linking
        from tpbridge.bridge.automation import bot, survey_flow
        from tpbridge.bridge.privacy import commands as privacy_commands

        try:
            msg = event.message
            if event.kind == MESSAGE_CREATED and msg is not None:
                if privacy_commands.claims(event.conversation, msg) or linking.claims(msg):
                    return  # /mydata, /forget, /link and codes: bridge/privacy/commands.py, bridge/linking.py answer
                if msg.direction is Direction.IN and msg.author.kind is AuthorKind.CONTACT:
                    await bot.on_customer_message(self, event.conversation_id, msg)
                elif msg.author.kind is AuthorKind.AGENT and not msg.private:
                    await bot.on_agent_reply(self, event.conversation_id, msg)
            elif event.kind == CONVERSATION_UPDATED:
                if "status" in event.changes and event.conversation.status is Status.RESOLVED:
                    await survey_flow.on_resolved(self, event.conversation_id)
                if "assignee_id" in event.changes and event.conversation.assignee_id is not None:
                    # assigned by hand (or by us): the wait in the queue ends here
                    await self.store.cycle_assigned(event.conversation_id, self.now().timestamp())
                if {"status", "assignee_id"} & set(event.changes):
                    self.kick()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("automation.failed", kind=event.kind, inbox=event.inbox,
                          conversation_id=event.conversation_id)
        finally:
            self.handled += 1

    async def _sweep_forever(self) -> None:
        from tpbridge.bridge.automation import alerts, handoff, sla

        while True:
            try:
                await handoff.sweep(self)
                await alerts.deliver_due(self)
                await sla.check(self)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("automation.sweep_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), timeout=self.settings.sweep_seconds)
            self._kick.clear()
