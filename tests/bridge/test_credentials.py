"""API tokens and sessions in the store (both stores): expiry, revocation, and their end with a password."""

from __future__ import annotations

import time
from pathlib import Path

from tpbridge.bridge.model import Role

from tests.support.core import running_core


async def test_tokens_expire_are_revoked_and_end_with_a_new_password_or_a_disable(tmp_path: Path,
                                                                                   store_url: str) -> None:
    async with running_core(tmp_path, url=store_url) as core:
        store = core.store
        ann = await store.add_agent("ann@example.com", "Ann", Role.AGENT, "h", [], [])
        live = await store.create_token(ann.id, "hash-live", "ci")
        gone = await store.create_token(ann.id, "hash-old", None, expires_at=time.time() - 1)
        assert gone.expires_at is not None and live.expires_at is None
        found = await store.token_login("hash-live")
        assert found is not None and found[0].id == ann.id and found[1].id == live.id
        assert await store.token_login("hash-old") is None and await store.agent_by_token("hash-old") is None
        assert await store.sign_in("token", "hash-old") is None
        await store.touch_token(live.id)
        listed = await store.list_tokens(ann.id)
        assert [t.id for t in listed] == [live.id, gone.id] and listed[0].last_used_at is not None
        assert await store.revoke_token(gone.id) and not await store.revoke_token(gone.id)
        assert await store.get_token(gone.id) is None
        await store.add_session("sess", ann.id, "csrf", 3600)
        assert await store.session("sess") is not None
        await store.update_agent(ann.id, password_hash="new")
        assert await store.session("sess") is None and await store.token_login("hash-live") is None
        assert await store.list_tokens(ann.id) == []
        await store.create_token(ann.id, "hash-2", None)
        await store.add_session("sess-2", ann.id, "csrf", 3600)
        await store.update_agent(ann.id, name="Ann B")  # other changes keep them
        assert await store.token_login("hash-2") is not None and await store.session("sess-2") is not None
        await store.update_agent(ann.id, disabled=True)
        assert await store.token_login("hash-2") is None and await store.session("sess-2") is None
        assert await store.list_tokens(ann.id) == []


async def test_a_token_or_session_reads_its_agent_whole_teams_sorted_and_the_token_as_stored(
        tmp_path: Path, store_url: str) -> None:
    async with running_core(tmp_path, url=store_url) as core:
        store = core.store
        await store.ensure_team("Zeta", ["webchat.site"])
        bo = await store.add_agent("bo@example.com", "Bo", Role.AGENT, "h", ["Zeta", "Alpha", "Émile"], ["zh"])
        made = await store.create_token(bo.id, "hash-bo", "laptop", expires_at=time.time() + 3600)
        await store.add_session("sess-bo", bo.id, "csrf-bo", 3600)
        found = await store.token_login("hash-bo")
        assert found is not None
        agent, token = found
        assert agent == bo and agent.teams == ("Alpha", "Zeta", "Émile") and agent.languages == ("zh",)
        assert token == made
        session = await store.session("sess-bo")
        assert session is not None and session == (bo, "csrf-bo")
        assert [a for a in await store.list_agents() if a.id == bo.id] == [bo]
        assert (await store.viewer(agent)).team_inboxes == ("webchat.site",)
        # sign_in: the same agent, token and session, with the viewer, in one read
        signed = await store.sign_in("token", "hash-bo")
        assert signed is not None and (signed.agent, signed.token, signed.csrf) == (bo, made, None)
        assert signed.viewer == await store.viewer(bo)
        signed = await store.sign_in("session", "sess-bo")
        assert signed is not None and (signed.agent, signed.token, signed.csrf) == (bo, None, "csrf-bo")
        assert signed.viewer == await store.viewer(bo)
        assert await store.sign_in("token", "sess-bo") is None and await store.sign_in("session", "hash-bo") is None
        await store.update_agent(bo.id, disabled=True)
        assert await store.sign_in("token", "hash-bo") is None and await store.sign_in("session", "sess-bo") is None
