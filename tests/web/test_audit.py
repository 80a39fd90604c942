"""The audit trail through the web app: what is recorded, and that only admins read it."""

from __future__ import annotations

from pathlib import Path

from tpbridge.bridge.model import Role

from tests.web.support import PASSWORD, login, web_app


async def test_sign_ins_reads_searches_and_admin_changes_are_recorded_and_admins_only_read_them(
        tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        admin = await w.agent("root@example.com", "Root", Role.ADMIN)
        ann = await w.agent("ann@example.com", "Ann")
        conv = await w.say("m1", "v1", "my withdrawal 提现 is late")
        assert (await login(w.client, "ann@example.com", "wrong password")).status == 401
        assert (await login(w.client, "ann@example.com", PASSWORD)).status == 303
        status, _ = await w.api("GET", f"/api/v1/conversations/{conv.id}/messages", "root@example.com")
        assert status == 200
        status, _ = await w.api("GET", "/api/v1/conversations?q=提现", "root@example.com")
        assert status == 200
        status, _ = await w.api("PATCH", f"/api/v1/agents/{ann.id}", "root@example.com",
                                {"role": "admin", "teams": ["vip"], "password": "another password"})
        assert status == 200
        status, _ = await w.api("GET", f"/api/v1/contacts/{conv.contact_id}/export", "root@example.com")
        assert status == 200

        status, body = await w.api("GET", "/api/v1/audit?limit=100", "root@example.com")
        assert status == 200
        by_action = {e["action"]: e for e in body["items"]}
        assert by_action["login_failed"]["agent"] == {"id": None, "email": "ann@example.com"}
        assert by_action["login_failed"]["address"] == "127.0.0.1"
        assert by_action["login"]["agent"] == {"id": ann.id, "email": "ann@example.com"}
        assert by_action["conversation_read"]["object"] == f"conversation:{conv.id}"
        assert by_action["conversation_read"]["agent"]["id"] == admin.id
        assert by_action["conversation_search"]["detail"]["q"] == "提现"
        update = by_action["agent_update"]
        assert update["object"] == f"agent:{ann.id}"
        assert update["detail"] == {"role": "admin", "teams": ["vip"], "password": "changed"}
        assert "another password" not in str(body) and "hash" not in update["detail"]
        assert by_action["contact_export"]["object"] == f"contact:{conv.contact_id}"
        ids = [e["id"] for e in body["items"]]
        assert ids == sorted(ids, reverse=True)  # newest first
        assert all(e["at"].endswith("Z") for e in body["items"])

        # filtered and paged
        status, only = await w.api("GET", f"/api/v1/audit?agent={admin.email}&action=conversation_read",
                                   "root@example.com")
        assert [e["action"] for e in only["items"]] == ["conversation_read"]
        status, first = await w.api("GET", "/api/v1/audit?limit=2", "root@example.com")
        assert len(first["items"]) == 2 and first["next_cursor"]
        status, second = await w.api("GET", f"/api/v1/audit?limit=2&cursor={first['next_cursor']}",
                                     "root@example.com")
        assert second["items"][0]["id"] < first["items"][-1]["id"]

        # an agent (even a signed-in one) cannot read it, neither through the API nor the page
        await w.agent("bob@example.com", "Bob")
        status, err = await w.api("GET", "/api/v1/audit", "bob@example.com")
        assert status == 403 and err["error"]["code"] == "forbidden"
        status, err = await w.api("GET", "/api/v1/audit?limit=0", "root@example.com")
        assert status == 400 and err["error"]["code"] == "bad_request"


async def test_the_admin_page_lists_the_trail_and_agents_are_refused(tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("root@example.com", "Root", Role.ADMIN)
        await w.agent("bob@example.com", "Bob")
        assert (await login(w.client, "bob@example.com")).status == 303
        refused = await w.client.get("/admin/audit")
        assert refused.status == 403
        w.client.session.cookie_jar.clear()
        assert (await login(w.client, "root@example.com")).status == 303
        page = await w.client.get("/admin/audit?action=login")
        text = await page.text()
        assert page.status == 200
        assert "bob@example.com" in text and "root@example.com" in text and "<code>login</code>" in text
