"""Configuration of support automation (`[automation]`) and of teams (`[teams.<name>]`).

Owned by bridge/automation; the core's config schema includes these models, so
`tpbridge check` reports every bad key here with its path.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator
from tpbridge.adapters.base import Secret

_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _zone(v: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {v!r} (use an IANA name such as Asia/Shanghai)") from None
    return v


def _check_days(key: str) -> None:
    for part in key.split(","):
        ends = [p.strip().lower()[:3] for p in part.split("-")]
        if len(ends) > 2 or any(e not in _DAYS for e in ends):
            raise ValueError(f'{key!r}: days are "mon".."sun", ranges like "mon-fri", lists like "sat,sun"')


def _check_spans(value: str | list[str]) -> None:
    spans = [value] if isinstance(value, str) else value
    for span in spans:
        if span.strip().lower() == "closed":
            continue
        m = _SPAN.match(span)
        if not m:
            raise ValueError(f'{span!r}: hours are "HH:MM-HH:MM" (or "closed")')
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if not (0 <= h1 <= 24 and 0 <= h2 <= 24 and m1 < 60 and m2 < 60) or (h1, m1) >= (h2, m2):
            raise ValueError(f"{span!r}: the start must be before the end, within 00:00-24:00")


class TeamSettings(BaseModel):
    """One team: what it handles, when it works, who leads it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    inboxes: list[str] = ["*"]  # inboxes whose unassigned conversations the team's agents see
    categories: list[str] = []  # categories routed here; "*" (or empty) takes any
    languages: list[str] = []  # languages routed here; empty takes any
    timezone: str = "UTC"
    hours: dict[str, str | list[str]] = {}  # {"mon-fri" = "09:00-18:00"}; empty = around the clock
    holidays: list[date] = []
    lead: str | None = None  # the lead's email: low satisfaction scores are assigned to them
    capacity: int | None = Field(None, gt=0)  # caps every agent of the team (their own capacity still applies)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return _zone(v)

    @field_validator("hours")
    @classmethod
    def _hours(cls, v: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        for key, spans in v.items():
            _check_days(key)
            _check_spans(spans)
        return v


class InboxAutomation(BaseModel):
    """Per inbox: when the bot answers first, and which team gets it when no rule decides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # "always": the bot answers first, around the clock, and hands over to humans;
    # "off_hours": the bot answers only while the team is closed; "off": straight to humans;
    # "only": a bot-only inbox around the clock: it never queues for humans (no staff on it).
    bot: Literal["always", "off_hours", "off", "only"] = "always"
    team: str | None = None


class SurveySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    low_score: int = Field(2, ge=1, le=5)  # this or lower reopens as a complaint for the team lead
    after_bot: bool = False  # also ask when the bot resolved the conversation
    answer_window_hours: float = Field(72, gt=0)  # later replies are new questions, not scores


class AlertSettings(BaseModel):
    """`[automation.alerts]`: page the on-call for every security incident until an agent acknowledges it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook_url: str | None = None  # POSTed JSON {conversation_id, category, priority, language, summary, url}
    # Then each POST is signed: X-Tpbridge-Timestamp and X-Tpbridge-Signature: sha256=HMAC(secret,
    # "<timestamp>.<body>") in hex, so the receiver can refuse forged or replayed pages.
    webhook_secret: Secret | None = None
    email: str | None = None  # an address; sent through the first e-mail inbox (or `email_inbox`)
    email_inbox: str | None = None  # "email.support"
    telegram_chat: str | None = None  # "telegram.main:-1001234567890": inbox and chat id
    repeat_minutes: float = Field(15, gt=0)  # page again this often until acknowledged
    categories: list[str] = ["security"]

    @field_validator("telegram_chat")
    @classmethod
    def _chat(cls, v: str | None) -> str | None:
        if v is not None and (":" not in v or not v.startswith("telegram.")):
            raise ValueError('"telegram.<inbox name>:<chat id>", e.g. "telegram.main:-1001234567890"')
        return v

    @property
    def enabled(self) -> bool:
        return bool(self.webhook_url or self.email or self.telegram_chat)


class SlaTarget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    first_response_minutes: float | None = Field(None, gt=0)
    resolution_minutes: float | None = Field(None, gt=0)


class LlmSettings(BaseModel):
    """`[automation.llm]`: an OpenAI-compatible endpoint (local vLLM, Ollama) for drafts and summaries; off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    base_url: str = "http://127.0.0.1:11434/v1"
    model: str = "qwen2.5:7b-instruct"
    api_key: Secret | None = None  # "env:NAME" or "file:/path" keeps it out of the config file
    timeout_seconds: float = Field(30, gt=0)
    drafts: bool = True  # a draft reply for agents to accept or edit (never sent by itself)
    summaries: bool = True  # a summary at the top of the handoff note


PriorityName = Literal["low", "normal", "high", "urgent"]


def _default_sla() -> dict[PriorityName, SlaTarget]:
    return {
        "urgent": SlaTarget(first_response_minutes=15, resolution_minutes=240),
        "high": SlaTarget(first_response_minutes=60, resolution_minutes=1440),
        "normal": SlaTarget(first_response_minutes=240, resolution_minutes=4320),
        "low": SlaTarget(first_response_minutes=1440, resolution_minutes=10080),
    }


class AutomationSettings(BaseModel):
    """The `[automation]` table. Off by default: turn it on with `enabled = true`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    # Languages the desk prefers (routing, reports); detection itself knows every language lingua knows.
    languages: list[str] = ["zh", "en"]
    default_language: str = "en"
    faq_dir: str = "faq"  # relative to [bridge].config_dir
    templates_dir: str = "templates"
    classify_rules: str = "classify.toml"
    examples_dir: str = "examples"  # labelled examples the classifier learns from
    model_dir: str | None = None  # where the trained model is cached; default data_dir/model
    learned_classifier: bool = True  # false: the rules alone, as before
    security_categories: list[str] = ["security"]  # urgent, the security team, a safety reply, never an FAQ
    security_floor: float = Field(0.3, ge=0, le=1)  # the model's probability from which a message is security
    no_faq_categories: list[str] = ["security", "complaint", "legal"]  # a person answers these
    faq_category_min: float = Field(0.3, ge=0, le=1)  # the model's probability of the FAQ entry's category
    # X public threads: "pointer" posts at most the short `public_pointer` template (go to DMs); "silent" nothing.
    public_threads: Literal["pointer", "silent"] = "pointer"
    faq_threshold: float = Field(0.3, ge=0, le=1)  # confidence (0..1) above which the bot answers
    bot_turns: int = Field(3, ge=1)  # answers the bot may try before a human takes over
    resolve_on_yes: bool = True  # "yes, solved" resolves the conversation
    handoff_words: list[str] = ["人工", "转人工", "人工客服", "客服", "真人", "human", "agent", "person",
                                "operator", "real person", "talk to someone"]
    vip_tiers: list[str] = ["vip"]
    high_priority_categories: list[str] = ["security"]
    short_text_letters: int = Field(4, ge=0)  # shorter texts keep the contact's last language
    default_team: str | None = None
    inboxes: dict[str, InboxAutomation] = {}  # by inbox name ("webchat.site"); "*" for the rest
    position_step: int = Field(3, ge=1)  # tell the position again when it moved this much (or halved)
    default_wait_minutes: float = Field(10, gt=0)  # per place in the queue, before any wait was measured
    ewma_alpha: float = Field(0.3, gt=0, le=1)
    max_auto_replies_per_hour: int = Field(8, ge=1)  # per conversation: breaks loops with other bots
    sweep_seconds: float = Field(5, gt=0)  # how often waiting conversations are offered to free agents
    # "Anything else?" this many days after a conversation was resolved (bridge/followup.py); unset: never.
    follow_up_days: float | None = Field(None, gt=0)
    reports_timezone: str = "UTC"
    survey: SurveySettings = SurveySettings()
    alerts: AlertSettings = AlertSettings()
    sla: dict[PriorityName, SlaTarget] = Field(default_factory=_default_sla)
    llm: LlmSettings = LlmSettings()

    @field_validator("reports_timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return _zone(v)

    def inbox(self, name: str) -> InboxAutomation:
        return self.inboxes.get(name) or self.inboxes.get("*") or InboxAutomation()
