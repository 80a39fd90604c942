"""The labelled evaluation set (tests/eval/): the targets hold on both halves, and no evaluation message
was ever a training example (the held-out half stays held out)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tpbridge.bridge import cli
from tpbridge.bridge.automation.classify import RuleClassifier
from tpbridge.bridge.automation.evaluate import Labelled, Report, evaluate, load_set, meets_targets
from tpbridge.bridge.automation.examples import load_folder
from tpbridge.bridge.automation.faq import KnowledgeBase, load_entries
from tpbridge.bridge.automation.normalize import normalize
from tpbridge.bridge.automation.settings import AutomationSettings
from tpbridge.bridge.automation.understand import Understander

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config"
SETS = {name: load_set(REPO / "tests" / "eval" / f"{name}.psv") for name in ("dev", "heldout")}
SHIPPED = {"zh-Hans", "zh-Hant", "en", "ja", "ko", "ru", "vi", "es"}


@pytest.fixture(scope="module")
def brain() -> Understander:
    settings = AutomationSettings()
    u = Understander.load(settings, RuleClassifier.from_toml(CONFIG / "classify.toml"),
                          KnowledgeBase.load(CONFIG / "faq"), CONFIG / "examples", None)
    u.prepare()
    return u


def test_the_set_is_big_and_broad_enough() -> None:
    rows = [r for rows in SETS.values() for r in rows]
    assert len(rows) >= 300
    assert SHIPPED <= {r.language for r in rows}
    assert {r.category for r in rows} == {"technical", "account", "transaction", "security", "legal", "complaint",
                                          "general"}
    entries = {e.id for e in load_entries(CONFIG / "faq")}
    assert {r.faq for r in rows if r.faq} <= entries
    assert sum(r.category == "security" for r in rows) >= 50


def test_no_evaluation_message_is_a_training_example() -> None:
    """Not the same text, nor nearly all of one inside the other (after normalisation: case, width, script)."""
    examples = [normalize(e.text) for e in load_folder(CONFIG / "examples")]
    variants = [normalize(q) for e in load_entries(CONFIG / "faq") for qs in e.questions.values() for q in qs]
    known = set(examples) | set(variants)
    for rows in SETS.values():
        for r in rows:
            text = normalize(r.text)
            assert text not in known, f"{r.where} is a training example: {r.text}"
            assert not any((k in text or text in k) and min(len(k), len(text)) >= 0.8 * max(len(k), len(text))
                           for k in known), f"{r.where} is nearly a training example: {r.text}"


@pytest.mark.parametrize("name", ["dev", "heldout"])
def test_targets_hold(brain: Understander, name: str) -> None:
    report = evaluate(brain, SETS[name], name)
    assert meets_targets(report), "\n".join(report.lines())
    assert report.security_faq == 0 and report.security_found == report.security_total


def test_a_miss_is_counted_and_explained(brain: Understander) -> None:
    wrong = [Labelled("en", "legal", "fees", "the app crashes when I open it", "x:1")]  # deliberately mislabelled
    report = evaluate(brain, wrong, "x")
    assert isinstance(report, Report) and report.category_ok == 0 and report.faq_ok == 0
    assert report.confusion[("legal", "technical")] == 1 and "expected en/legal/fees" in report.misses[0]
    assert not meets_targets(report)


def test_the_eval_command_prints_accuracy_per_task(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "tpbridge.toml").write_text(f'[bridge]\nconfig_dir = "{CONFIG}"\ndata_dir = "{tmp_path}"\n'
                                            '[automation]\nenabled = true\n', encoding="utf-8")
    subset = tmp_path / "small.psv"
    subset.write_text("en|security|-|someone drained my wallet overnight\nzh-Hans|account|forgot-password|"
                      "我把登录密码忘了，在哪里重置\n", encoding="utf-8")
    # Through the command's parser, but in this process (cli.main would reconfigure the test session's logging).
    args = cli.parser().parse_args(["eval", "-c", str(tmp_path / "tpbridge.toml"), "--set", str(subset)])
    code = args.fn(args)
    out = capsys.readouterr().out
    assert code == 0, out
    for task in ("language", "category", "security recall", "right FAQ answer", "no FAQ to complaints"):
        assert task in out
    args = cli.parser().parse_args(["eval", "-c", str(tmp_path / "tpbridge.toml"), "--set", str(tmp_path / "x.psv")])
    assert args.fn(args) == 1


def test_a_first_message_with_an_faq_match_is_predicted_once(brain: Understander,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Classifying a first message and checking the matched FAQ entry's category ask the model about the
    same text: it is worked out once (3 ms for a long message), with the same understanding as before."""
    model = brain.classifier.model  # type: ignore[attr-defined]
    vec = model.pipeline.named_steps["tfidf"]
    asked: list[str] = []
    worked_out: list[object] = []
    transform, predict = vec.transform, model.predict
    monkeypatch.setattr(vec, "transform", lambda docs: worked_out.append(docs) or transform(docs))
    monkeypatch.setattr(model, "predict", lambda text: asked.append(text) or predict(text))
    twice = 0
    for r in [r for r in SETS["dev"] if r.faq]:
        asked.clear()
        worked_out.clear()
        got = brain.understand(r.text, r.language)
        assert len(worked_out) == 1, r.where
        twice += len(asked) == 2  # the FAQ entry's category was checked: the model asked again
        model._last = None  # as if another message came between: the same answer, worked out again
        again = brain.understand(r.text, r.language)
        assert again == got, r.where
    assert twice >= 10
