"""A fresh clone must run its own tests: nothing the tests, scripts or benchmarks use lies outside it."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHECKED = ("tests", "scripts", "bench", ".ci")
SIBLING = "sha" + "red"  # these names are spelled apart so this file does not match its own patterns
MACHINE = "/wo" + "rk/"
OUTSIDE = [
    re.compile(r"\.\./" + SIBLING),  # a sibling folder of the clone
    re.compile(r"[\"']" + SIBLING + r"[\"']"),  # a path built from the sibling's name
    re.compile(r"REPO" + r"\.parent\b"),  # anything beside the repository
    re.compile(re.escape(str(Path(REPO, "..").resolve()) + "/")),  # an absolute path next to this clone
    re.compile(r"[\"']" + MACHINE),  # the machine path the first round's helpers used
]


def checked_files() -> list[Path]:
    files: list[Path] = []
    for top in CHECKED:
        for path in sorted((REPO / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in {".eml", ".png", ".pyc"}:
                files.append(path)
    return files


def test_nothing_refers_outside_the_repository() -> None:
    offenders = []
    for path in checked_files():
        text = path.read_text(errors="replace")
        for pattern in OUTSIDE:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                offenders.append(f"{path.relative_to(REPO)}:{line}: {match.group(0)!r}")
    assert offenders == []


def test_the_check_sees_an_outside_reference(tmp_path: Path) -> None:
    """The patterns above catch each way the first round reached outside (so the test above can fail)."""
    samples = [
        'REPO' + '.parent / "' + SIBLING + '" / "fixtures"',
        'Path("' + MACHINE + SIBLING + '/fixtures/telegram/updates.json")',
        "see ../" + SIBLING + "/testing/dovecot",
    ]
    for sample in samples:
        assert any(p.search(sample) for p in OUTSIDE), sample


def test_third_party_fixtures_keep_their_licence() -> None:
    assert (REPO / "tests" / "fixtures" / "email" / "flanker" / "LICENSE").read_text().startswith("Apache License")
    assert (REPO / "tests" / "fixtures" / "README.md").exists()
