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
        found = await store.sign_in("token", "hash-live")
        assert found is not None and found.agent.id == ann.id and found.token is not None and found.token.id == live.id
        assert await store.sign_in("token", "hash-old") is None
        await store.touch_token(live.id)
        listed = await store.list_tokens(ann.id)
        assert [t.id for t in listed] == [live.id, gone.id] and listed[0].last_used_at is not None
        assert await store.revoke_token(gone.id) and not await store.revoke_token(gone.id)
        assert await store.get_token(gone.id) is None
        await store.add_session("sess", ann.id, "csrf", 3600)
        assert await store.sign_in("session", "sess") is not None
        await store.update_agent(ann.id, password_hash="new")
        assert await store.sign_in("session", "sess") is None and await store.sign_in("token", "hash-live") is None
        assert await store.list_tokens(ann.id) == []
        await store.create_token(ann.id, "hash-2", None)
        await store.add_session("sess-2", ann.id, "csrf", 3600)
        await store.update_agent(ann.id, name="Ann B")  # other changes keep them
        assert await store.sign_in("token", "hash-2") is not None
        assert await store.sign_in("session", "sess-2") is not None
        await store.update_agent(ann.id, disabled=True)
        assert await store.sign_in("token", "hash-2") is None and await store.sign_in("session", "sess-2") is None
        assert await store.list_tokens(ann.id) == []


async def test_a_token_or_session_reads_its_agent_whole_teams_sorted_and_the_token_as_stored(
        tmp_path: Path, store_url: str) -> None:
    async with running_core(tmp_path, url=store_url) as core:
        store = core.store
        await store.ensure_team("Zeta", ["webchat.site"])
        bo = await store.add_agent("bo@example.com", "Bo", Role.AGENT, "h", ["Zeta", "Alpha", "Émile"], ["zh"])
        made = await store.create_token(bo.id, "hash-bo", "laptop", expires_at=time.time() + 3600)
        await store.add_session("sess-bo", bo.id, "csrf-bo", 3600)
        assert bo.teams == ("Alpha", "Zeta", "Émile") and bo.languages == ("zh",)
        assert [a for a in await store.list_agents() if a.id == bo.id] == [bo]
        assert (await store.viewer(bo)).team_inboxes == ("webchat.site",)
        # sign_in: the agent whole (teams sorted), the token as stored and the session's CSRF token, with the
        # viewer, in one read
        signed = await store.sign_in("token", "hash-bo")
        assert signed is not None and (signed.agent, signed.token, signed.csrf) == (bo, made, None)
        assert signed.viewer == await store.viewer(bo)
        signed = await store.sign_in("session", "sess-bo")
        assert signed is not None and (signed.agent, signed.token, signed.csrf) == (bo, None, "csrf-bo")
        assert signed.viewer == await store.viewer(bo)
        assert await store.sign_in("token", "sess-bo") is None and await store.sign_in("session", "hash-bo") is None
        await store.update_agent(bo.id, disabled=True)
        assert await store.sign_in("token", "hash-bo") is None and await store.sign_in("session", "sess-bo") is None
