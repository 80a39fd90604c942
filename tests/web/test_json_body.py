"""The hot reads' JSON (bridge/web/json_body.py) is the standard library's document, whatever the values."""

from __future__ import annotations

import json

from tpbridge.bridge.web.json_body import dumps, json_response


def test_the_same_document_as_the_standard_library_including_what_orjson_refuses() -> None:
    page = {"items": [{"id": 2**62, "text": "我的提现还没到账 ✓", "labels": ["vip"], "at": None, "ok": True,
                       "attrs": {"n": 1.5, "nested": {"a": []}}}], "next_cursor": None}
    for data in (page, {"big": 2**70}, {"lone": "\ud800"}, {1: "int key", None: "null key"}):
        assert json.loads(dumps(data)) == json.loads(json.dumps(data))


def test_an_answer_says_json_in_utf8() -> None:
    resp = json_response({"q": "提现"}, status=201, headers={"X-Test": "1"})
    assert (resp.status, resp.content_type, resp.charset, resp.headers["X-Test"]) == (201, "application/json",
                                                                                      "utf-8", "1")
    assert resp.body is not None and json.loads(resp.body) == {"q": "提现"}  # type: ignore[arg-type]
