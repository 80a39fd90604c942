"""X's weighted length and the thread splitter."""

from __future__ import annotations

from tpbridge.adapters.x.text import split_thread, weighted_length


def test_latin_counts_one_cjk_and_emoji_two_urls_23() -> None:
    assert weighted_length("hello") == 5
    assert weighted_length("你好") == 4
    assert weighted_length("こんにちは") == 10
    assert weighted_length("👍") == 2 and weighted_length("👨‍👩‍👧") == 2 and weighted_length("👍🏽") == 2
    assert weighted_length("see https://example.com/" + "a" * 100) == 4 + 23
    assert weighted_length("“quoted” — ok") == 13  # general punctuation is in a light range


def test_short_text_is_one_part() -> None:
    assert split_thread("  Thanks, we are on it.  ") == ["Thanks, we are on it."]
    assert split_thread("字" * 140) == ["字" * 140]


def test_cjk_splits_at_140_characters_preferring_punctuation() -> None:
    text = "我们已经收到您的反馈，" * 30  # 11 chars (22 weight) per clause
    parts = split_thread(text)
    assert all(weighted_length(p) <= 280 for p in parts)
    assert all(p.endswith("，") for p in parts[:-1])
    assert "".join(parts) == text.strip()


def test_latin_splits_between_words_and_never_inside_a_url() -> None:
    url = "https://example.com/" + "p" * 200
    text = ("word " * 60) + url + " end"
    parts = split_thread(text)
    assert all(weighted_length(p) <= 280 for p in parts)
    assert any(url in p for p in parts)
    assert all(not p.startswith(" ") and not p.endswith(" ") for p in parts)
    assert " ".join(parts).split() == text.split()


def test_a_word_longer_than_a_post_is_cut_hard() -> None:
    parts = split_thread("x" * 600)
    assert [len(p) for p in parts] == [280, 280, 40]
