"""U+0000 from outside, on both stores, against the daemon as a subprocess.

PostgreSQL's text cannot hold U+0000 (SQLite's can): a NUL that reached a statement was a 500 there. A
channel's message keeps its text (the NUL becomes U+FFFD, as a bad byte would: store/postgres/ingest.py);
what an agent or a visitor types into a form, a filter or a search is refused at the door with a 400 that
says why, on either store alike (the sign-in form's address: no account has it, a 401 as for any other).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.security.support import browser, json_schema, login_form, query_names, walk
from tests.support.daemon import Daemon, Visitor

pytestmark = pytest.mark.slow

NUL = "a\x00b"


def _body(op: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    """A JSON body giving every documented field of an operation a NUL (a list of one where it takes a list)."""
    return {name: [NUL] if prop.get("type") == "array" else NUL
            for name, prop in json_schema(op, doc).get("properties", {}).items()} or {"text": NUL, "name": NUL}


async def test_every_route_given_a_nul_answers_a_clear_4xx_on_either_store(tmp_path: Path, store_url: str) -> None:
    async with Daemon(tmp_path, store_url=store_url) as d:
        w = await walk(d)
        conv, hdr, tried = w.conversation, w.headers, 0
        for method, path, op in w.operations:
            url = d.url + re.sub(r"\{[^}]+\}", str(conv), path)
            if method == "delete" and "{id}" in path and "contacts" in path:
                continue  # erasing the conversation's person would leave the rest nothing to act on
            names = query_names(op)
            kw: dict[str, Any] = {"params": {n: NUL for n in names}, "headers": hdr}
            async with d.session.request(method.upper(), url, **kw) as resp:
                assert resp.status == 400, (method, path, "query", resp.status, await resp.text())
                assert (await resp.json())["error"]["code"] == "bad_request"
            if method in ("post", "patch", "put"):
                async with d.session.request(method.upper(), url, json=_body(op, w.doc), headers=hdr) as resp:
                    assert resp.status < 500, (method, path, "body", resp.status, await resp.text())
                    if resp.status == 400:
                        assert (await resp.json())["error"]["code"] in ("bad_request", "bad_json")
            tried += 1
        assert tried >= 30
        for labels in ([NUL], ["ok", NUL]):  # the form fields that reach the store: refused whole
            status, body = await d.api("POST", f"/api/v1/conversations/{conv}/labels", {"labels": labels})
            assert (status, body["error"]["code"]) == (400, "bad_json"), body
        status, body = await d.api("POST", f"/api/v1/conversations/{conv}/messages", {"text": NUL})
        assert (status, body["error"]["code"]) == (400, "bad_json"), body
        form = aiohttp.FormData()  # the reply form's multipart text too
        form.add_field("text", NUL)
        form.add_field("file", b"note", filename="note.txt", content_type="text/plain")
        async with d.session.post(f"{d.url}/api/v1/conversations/{conv}/messages", data=form, headers=hdr) as resp:
            assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_request"
        # the visitor's side: a filter-like query, and a message (a channel's text: kept, U+FFFD on PostgreSQL)
        v = await Visitor(d).start()
        for where in ("/help/api/search", "/chat/api/messages"):
            async with d.session.get(d.url + where, params={"q": NUL},
                                     headers={"Authorization": f"Bearer {v.token}"}) as resp:
                assert resp.status == 400, (where, await resp.text())
        await v.say("x\x00y")
        _, page = await d.api("GET", "/api/v1/conversations")
        assert page["items"][0]["last_message"]["text"] in ("x\x00y", "x\ufffdy")
        _, labelled = await d.api("GET", f"/api/v1/conversations/{conv}")
        assert labelled["labels"] == []  # nothing of the refused forms was stored
        jar = browser()  # the sign-in form (no account has such an address: refused as any wrong one)
        try:
            assert (await login_form(jar, d.url, "a\x00@example.com", "pass\x00word")).status == 401
        finally:
            await jar.close()
        assert "http.unhandled" not in d.logs()
