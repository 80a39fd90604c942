"""The web app's own API routes: canned responses, contact merges, agents and teams, own settings."""

from __future__ import annotations

from pathlib import Path

from tpbridge.bridge.model import Role

from tests.web.support import web_app


async def test_canned_responses_are_managed_by_admins_and_read_by_everyone(tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("root@example.com", "Root", Role.ADMIN)
        await w.agent("ann@example.com", "Ann")
        status, made = await w.api("POST", "/api/v1/canned_responses", "root@example.com",
                                   {"shortcut": "/refund", "text": "退款将在 3 个工作日内到账。"})
        assert status == 201 and made["shortcut"] == "refund"
        status, _ = await w.api("POST", "/api/v1/canned_responses", "root@example.com",
                                {"shortcut": "refund", "text": "again"})
        assert status == 409
        status, body = await w.api("POST", "/api/v1/canned_responses", "ann@example.com",
                                   {"shortcut": "hi", "text": "Hello"})
        assert status == 403 and body["error"]["code"] == "forbidden"
        status, _ = await w.api("POST", "/api/v1/canned_responses", "root@example.com",
                                {"shortcut": "a b", "text": "x"})
        assert status == 422
        status, page = await w.api("GET", "/api/v1/canned_responses", "ann@example.com")
        assert status == 200 and [c["shortcut"] for c in page["items"]] == ["refund"]
        status, changed = await w.api("PATCH", f"/api/v1/canned_responses/{made['id']}", "root@example.com",
                                      {"text": "Refunds take 3 working days."})
        assert status == 200 and changed["text"] == "Refunds take 3 working days." and changed["shortcut"] == "refund"
        assert (await w.api("DELETE", f"/api/v1/canned_responses/{made['id']}", "ann@example.com"))[0] == 403
        assert (await w.api("DELETE", f"/api/v1/canned_responses/{made['id']}", "root@example.com"))[0] == 200
        assert (await w.api("DELETE", f"/api/v1/canned_responses/{made['id']}", "root@example.com"))[0] == 404


async def test_merging_makes_one_person_with_history_on_both_channels_and_undo_splits_them(tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("root@example.com", "Root", Role.ADMIN)
        tg = await w.say("t1", "4242", "hi from telegram", inbox="telegram.main", name="Li Lei")
        mail = await w.say("e1", "lilei@example.com", "hi by email", inbox="email.support", name="Li Lei")
        assert tg.contact_id != mail.contact_id
        status, merged = await w.api("POST", f"/api/v1/contacts/{tg.contact_id}/merge", "root@example.com",
                                     {"contact": mail.contact_id})
        assert status == 200
        assert {i["channel"] for i in merged["identities"]} == {"telegram", "email"}
        status, history = await w.api("GET", f"/api/v1/contacts/{tg.contact_id}/conversations", "root@example.com")
        assert status == 200
        assert {c["id"] for c in history["items"]} == {tg.id, mail.id}
        assert {c["channel"] for c in history["items"]} == {"telegram", "email"}
        status, undone = await w.api("POST", f"/api/v1/contacts/{mail.contact_id}/unmerge", "root@example.com")
        assert status == 200 and undone["merged_into"] is None
        _, history = await w.api("GET", f"/api/v1/contacts/{tg.contact_id}/conversations", "root@example.com")
        assert [c["id"] for c in history["items"]] == [tg.id]
        _, contact = await w.api("GET", f"/api/v1/contacts/{tg.contact_id}", "root@example.com")
        assert [i["channel"] for i in contact["identities"]] == ["telegram"]
        assert (await w.api("POST", f"/api/v1/contacts/{mail.contact_id}/unmerge", "root@example.com"))[0] == 422
        assert (await w.api("POST", f"/api/v1/contacts/{tg.contact_id}/merge", "root@example.com",
                            {"contact": tg.contact_id}))[0] == 422


async def test_an_agent_cannot_merge_a_contact_they_may_not_see(tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.core.store.ensure_team("alpha", ["webchat.site"])
        await w.agent("ann@example.com", "Ann", teams=("alpha",))
        mine = await w.say("w1", "v1", "hello", inbox="webchat.site")
        other = await w.say("e1", "x@example.com", "secret", inbox="email.support")
        status, _ = await w.api("POST", f"/api/v1/contacts/{mine.contact_id}/merge", "ann@example.com",
                                {"contact": other.contact_id})
        assert status == 404
        assert (await w.core.store.get_contact(other.contact_id)).merged_into is None


async def test_admins_add_and_change_agents_and_teams(tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        root = await w.agent("root@example.com", "Root", Role.ADMIN)
        await w.agent("ann@example.com", "Ann")
        status, team = await w.api("POST", "/api/v1/teams", "root@example.com",
                                   {"name": "billing", "inboxes": ["email.support"]})
        assert status == 201 and team["inboxes"] == ["email.support"]
        status, team = await w.api("POST", "/api/v1/teams", "root@example.com", {"name": "billing", "inboxes": []})
        assert team["inboxes"] == []
        status, bob = await w.api("POST", "/api/v1/agents", "root@example.com", {
            "email": "bob@example.com", "name": "Bob", "password": "long enough pw", "teams": ["billing"]})
        assert status == 201 and bob["teams"] == ["billing"] and bob["role"] == "agent"
        assert (await w.api("POST", "/api/v1/agents", "root@example.com", {
            "email": "bob@example.com", "name": "Bob", "password": "long enough pw"}))[0] == 409
        assert (await w.api("POST", "/api/v1/agents", "ann@example.com", {
            "email": "eve@example.com", "name": "Eve", "password": "long enough pw"}))[0] == 403
        status, bob = await w.api("PATCH", f"/api/v1/agents/{bob['id']}", "root@example.com",
                                  {"role": "admin", "teams": [], "disabled": True})
        assert status == 200 and bob["role"] == "admin" and bob["disabled"] and bob["teams"] == []
        assert (await w.api("PATCH", f"/api/v1/agents/{root.id}", "root@example.com", {"role": "agent"}))[0] == 422
        _, listed = await w.api("GET", "/api/v1/agents", "ann@example.com")
        assert all("email" not in a for a in listed["items"])
        assert "Bob" not in {a["name"] for a in listed["items"]}  # disabled agents are not offered for assignment
        assert (await w.api("DELETE", "/api/v1/teams/billing", "root@example.com"))[0] == 200
        assert (await w.api("DELETE", "/api/v1/teams/billing", "root@example.com"))[0] == 404


async def test_an_agent_sets_their_own_language_and_presence_only(tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("ann@example.com", "Ann")
        status, me = await w.api("PATCH", "/api/v1/me", "ann@example.com", {"ui_language": "zh", "presence": "online"})
        assert status == 200 and me["ui_language"] == "zh" and me["presence"] == "online"
        assert (await w.api("PATCH", "/api/v1/me", "ann@example.com", {"ui_language": "fr"}))[0] == 422
        assert (await w.api("PATCH", "/api/v1/me", "ann@example.com", {"role": "admin"}))[0] == 422
