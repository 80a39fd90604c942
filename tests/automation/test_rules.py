"""Unit tests of every rule: hours, language, FAQ matching, classification, survey answers, routing, queue."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError
from tpbridge.bridge.automation.classify import Classifier, RuleClassifier, RulesError
from tpbridge.bridge.automation.faq import FaqError, KnowledgeBase, load_entries
from tpbridge.bridge.automation.hours import Hours
from tpbridge.bridge.automation.language import LanguageDetector
from tpbridge.bridge.automation.queue import estimate, material
from tpbridge.bridge.automation.routing import choose_agent, choose_team
from tpbridge.bridge.automation.settings import AutomationSettings, TeamSettings
from tpbridge.bridge.automation.survey import parse_score
from tpbridge.bridge.automation.templates import Templates, mentions, says
from tpbridge.bridge.model import Agent, Role

from tests.automation.harness import CONFIG

SHANGHAI = TeamSettings(timezone="Asia/Shanghai", hours={"mon-fri": "09:00-18:00", "sat": "10:00-12:00"},
                        holidays=[date(2026, 10, 1)])


# ---------------------------------------------------------------- business hours
def test_open_in_the_teams_time_zone_not_utc() -> None:
    h = Hours.of(SHANGHAI)
    assert h.is_open(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))  # Monday 10:00 in Shanghai
    assert not h.is_open(datetime(2026, 11, 23, 11, 0, tzinfo=UTC))  # Monday 19:00 in Shanghai


def test_back_at_is_the_next_opening_in_local_time() -> None:
    h = Hours.of(SHANGHAI)
    friday_night = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # Friday 20:00 local
    back = h.next_open(friday_night)
    assert back is not None and back.astimezone(h.zone).strftime("%a %H:%M") == "Sat 10:00"
    saturday_after = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)  # Saturday 13:00 local
    assert h.next_open(saturday_after).astimezone(h.zone).strftime("%a %H:%M") == "Mon 09:00"  # type: ignore[union-attr]


def test_holidays_are_closed_all_day() -> None:
    h = Hours.of(SHANGHAI)
    national_day = datetime(2026, 10, 1, 3, 0, tzinfo=UTC)  # Thursday 11:00 local, a holiday
    assert not h.is_open(national_day)
    assert h.next_open(national_day).astimezone(h.zone).date() == date(2026, 10, 2)  # type: ignore[union-attr]


def test_business_seconds_stop_overnight() -> None:
    h = Hours.of(SHANGHAI)
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 17:00 local
    end = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # Tuesday 10:00 local
    assert h.seconds_between(start, end) == 2 * 3600
    assert Hours.of(None).seconds_between(start, end) == 17 * 3600


def test_bad_hours_and_zones_are_config_errors() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        TeamSettings(timezone="Moon/Base")
    with pytest.raises(ValidationError, match="HH:MM"):
        TeamSettings(hours={"mon": "9 to 5"})
    with pytest.raises(ValidationError, match="days"):
        TeamSettings(hours={"someday": "09:00-17:00"})
    with pytest.raises(ValidationError, match="extra"):
        AutomationSettings(enable=True)  # type: ignore[call-arg]


# ---------------------------------------------------------------- language
@pytest.mark.parametrize(("text", "language"), [
    ("充值不到账怎么办", "zh-Hans"),
    ("我的帳號被盜了，請幫我凍結", "zh-Hant"),  # Traditional: OpenCC changes it
    ("我的USDT提现还没到 txid 0x3f9a1c2b7d8e4f5a6b7c8d9e0f1a2b3c4d5e6f7a", "zh-Hans"),  # mostly Chinese
    ("my withdrawal has been pending for two days", "en"),
    ("入金がまだ反映されていません", "ja"),
    ("출금이 계속 처리 중이에요", "ko"),
    ("Мой вывод завис уже два дня", "ru"),
    ("Bonjour, mon dépôt n'est toujours pas arrivé sur mon compte", "fr"),  # not shipped, still detected
    ("Hallo, meine Einzahlung ist seit gestern nicht angekommen", "de"),
])
def test_language_detection_knows_every_language(text: str, language: str) -> None:
    assert LanguageDetector(["zh", "en"]).detect(text) == language


def test_short_text_keeps_the_contacts_language() -> None:
    d = LanguageDetector(["zh", "en"])
    assert d.detect("ok", fallback="zh-Hans") == "zh-Hans"  # too short to tell: the contact's last language
    assert d.detect("5", fallback=None) is None


# ---------------------------------------------------------------- FAQ
def test_faq_matches_chinese_by_bigrams_and_explains_why() -> None:
    kb = KnowledgeBase.load(CONFIG / "faq")
    best = kb.search("我的充值三个小时了还没到账")[0]
    assert best.entry.id == "deposit-not-arrived"
    assert {"到账", "没到"} & set(best.matched) and best.confidence > 0.4
    assert "deposit-not-arrived" in best.explain()


def test_faq_matches_english_inflections() -> None:
    kb = KnowledgeBase.load(CONFIG / "faq")
    assert kb.search("I never received my deposits")[0].entry.id == "deposit-not-arrived"
    assert kb.search("which networks do you support")[0].entry.id == "supported-chains"
    assert kb.search("what is the weather like") == []


def test_starter_set_covers_the_wallet_desk_in_both_languages() -> None:
    entries = load_entries(CONFIG / "faq")
    ids = {e.id for e in entries}
    assert ids == {"registration-fails", "deposit-not-arrived", "withdrawal-limited", "forgot-password", "fees",
                   "supported-chains", "contact-human"}
    shipped = {"zh", "zh-Hant", "en", "ja", "ko", "ru", "vi", "es"}
    assert all(set(e.answers) >= shipped and set(e.questions) >= shipped for e in entries)
    assert all(e.category for e in entries)


def test_faq_file_errors_name_the_entry(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('[[entry]]\nid = "x"\nanswers = { en = "a" }\n', encoding="utf-8")
    with pytest.raises(FaqError, match=r"bad.toml: entry\[0\].questions"):
        load_entries(tmp_path)


# ---------------------------------------------------------------- classification
@pytest.mark.parametrize(("text", "category"), [
    ("我的钱被盗了", "security"),
    ("my password was stolen", "security"),
    ("I clicked a phishing link", "security"),
    ("账户被冻结了", "security"),
    ("我要投诉你们的客服", "complaint"),
    ("my lawyer will contact you", "legal"),
    ("提现一直没到账", "transaction"),
    ("cannot log in to my account", "account"),
    ("the app crashes when I open it", "technical"),
])
def test_default_rules(text: str, category: str) -> None:
    c = RuleClassifier.from_toml(CONFIG / "classify.toml")
    assert isinstance(c, Classifier)
    found = c.classify(text)
    assert found.category == category, found.explain()
    assert found.matched


def test_bad_rule_pattern_names_its_key(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('[categories.x]\npatterns = ["(unclosed"]\n', encoding="utf-8")
    with pytest.raises(RulesError, match=r"categories.x.patterns\[0\]"):
        RuleClassifier.from_toml(tmp_path / "c.toml")


# ---------------------------------------------------------------- survey answers
@pytest.mark.parametrize(("text", "score"), [
    ("5", 5), ("1", 1), ("４", 4), ("3分", 3), ("4/5", 4), ("五星", 5), ("⭐⭐⭐⭐", 4), ("★★", 2),
    ("很满意", 5), ("满意", 4), ("一般", 3), ("不满意", 2), ("很不满意", 1),
    ("excellent!", 5), ("good", 4), ("ok", 3), ("not good", 2), ("terrible", 1),
    ("我的提现还没到账，帮我查一下", None), ("你好", None), ("6", None),
    ("my deposit is still missing, any news?", None),
])
def test_survey_answers(text: str, score: int | None) -> None:
    assert parse_score(text) == score


# ---------------------------------------------------------------- words
def test_yes_no_and_handoff_words() -> None:
    t = Templates.load(CONFIG / "templates")
    assert says("no, that did not help", t.words("no", "en"))
    assert says("没用", t.words("no", "zh"))
    assert says("是的，解决了", t.words("yes", "zh"), extra_words=2)
    assert says("yes thank you", t.words("yes", "en"), extra_words=2)
    assert not says("thanks but my withdrawal is still stuck since monday", t.words("yes", "en"), extra_words=2)
    assert not says("not sure where my withdrawal went, can you look at the chain", t.words("no", "en"))
    handoff = AutomationSettings().handoff_words
    assert mentions("转人工", handoff) and mentions("I want a human please", handoff)
    assert not mentions("humanitarian aid", handoff) and not mentions("user agentless", ["agent"])


def test_templates_fall_back_to_the_default_language() -> None:
    t = Templates({"en": {"survey": "Rate us"}, "zh": {}}, default="en")
    assert t.render("survey", "zh") == "Rate us"
    assert t.duration(30, "en") == "less than a minute" if "less_than_minute" in t.by_language["en"] else True


# ---------------------------------------------------------------- routing
def _agent(i: int, *, teams: tuple[str, ...] = ("support",), langs: tuple[str, ...] = (), presence: str = "online",
           capacity: int = 5) -> Agent:
    return Agent(i, f"a{i}@x", f"A{i}", Role.AGENT, teams, langs, presence=presence, capacity=capacity)


def test_team_by_category_then_language() -> None:
    teams = {
        "general": TeamSettings(),
        "security": TeamSettings(categories=["security"]),
        "cn": TeamSettings(languages=["zh"]),
    }
    s = AutomationSettings()
    assert choose_team(teams, s, inbox="webchat.site", category="security", language="zh") == "security"
    assert choose_team(teams, s, inbox="webchat.site", category="account", language="zh") == "cn"
    assert choose_team(teams, s, inbox="webchat.site", category="account", language="en") == "general"
    only_mail = {"mail": TeamSettings(inboxes=["email.support"])}
    assert choose_team(only_mail, s, inbox="webchat.site", category=None, language="en") is None


def test_agent_online_under_capacity_speaking_the_language_least_loaded() -> None:
    agents = [_agent(1, langs=("en",)), _agent(2, langs=("zh",)), _agent(3, langs=("zh",)),
              _agent(4, presence="away", langs=("zh",)), _agent(5, teams=("other",), langs=("zh",))]
    loads = {2: 3, 3: 1}
    assert choose_agent(agents, loads, team="support", language="zh").id == 3  # type: ignore[union-attr]
    assert choose_agent(agents, {**loads, 3: 5, 2: 5}, team="support", language="zh").id == 1  # type: ignore[union-attr]
    assert choose_agent(agents, {1: 2, 2: 2, 3: 2}, team="support", language="zh", team_capacity=2) is None


# ---------------------------------------------------------------- queue
def test_material_position_changes() -> None:
    assert not material(2, 1, 3)  # one place: not worth a message
    assert material(10, 7, 3) and material(4, 2, 3) and not material(10, 9, 3)


def test_wait_estimate_uses_measured_seconds_per_place() -> None:
    assert estimate(3, None, 600) == (1800, False)
    assert estimate(2, 300.0, 600) == (600.0, True)
