"""Routing: which team takes a conversation (category, language, inbox) and which agent, if any, now.

By language with a fallback: a team that names the language wins, then one that takes any
language, then the inbox's team or `default_team` (the fallback team).

An agent is a candidate when online, enabled, in the team and under capacity
(their own, and the team's cap). Among candidates, one who speaks the
conversation's language comes first, then the one with the fewest open
conversations; ties go to the lower id, so the choice is reproducible.
"""

from __future__ import annotations

from collections.abc import Mapping

from tpbridge.bridge.automation.language import same_language
from tpbridge.bridge.automation.settings import AutomationSettings, TeamSettings
from tpbridge.bridge.model import Agent


def _takes(values: list[str], value: str | None, *, language: bool = False) -> int:
    """2: named explicitly; 1: takes anything; 0: does not take it.

    A language named without its script takes every script of it (`zh` takes `zh-Hans` and `zh-Hant`).
    """
    if value is not None and (value in values or (language and any(same_language(v, value) for v in values))):
        return 2
    if not values or "*" in values or value is None:
        return 1  # an unknown language (or category) does not keep a team from taking it
    return 0


def _serves_inbox(team: TeamSettings, inbox: str) -> bool:
    return "*" in team.inboxes or inbox in team.inboxes or inbox.split(".", 1)[0] in team.inboxes


def choose_team(
    teams: Mapping[str, TeamSettings], settings: AutomationSettings, *, inbox: str, category: str | None,
    language: str | None,
) -> str | None:
    """The best team by category then language, among those serving the inbox; else the inbox's or default team."""
    best: tuple[int, int, int] | None = None
    chosen: str | None = None
    for order, (name, team) in enumerate(teams.items()):
        if not _serves_inbox(team, inbox):
            continue
        cat, lang = _takes(team.categories, category), _takes(team.languages, language, language=True)
        if not cat or not lang:
            continue
        rank = (cat, lang, -order)
        if best is None or rank > best:
            best, chosen = rank, name
    if chosen is not None:
        return chosen
    fallback = settings.inbox(inbox).team or settings.default_team
    return fallback if fallback in teams else None


def choose_agent(
    agents: list[Agent], loads: Mapping[int, int], *, team: str | None, language: str | None,
    team_capacity: int | None = None, exclude: frozenset[int] = frozenset(),
) -> Agent | None:
    candidates = []
    for agent in agents:
        if agent.disabled or agent.presence != "online" or agent.id in exclude:
            continue
        if team is not None and team not in agent.teams:
            continue
        cap = min(agent.capacity, team_capacity) if team_capacity else agent.capacity
        load = loads.get(agent.id, 0)
        if load >= cap:
            continue
        speaks = language is not None and any(same_language(x, language) for x in agent.languages)
        candidates.append((not speaks, load, agent.id, agent))
    if not candidates:
        return None
    return min(candidates, key=lambda c: c[:3])[3]
