"""Configuration of support automation (`[automation]`) and of teams (`[teams.<name>]`).

Owned by bridge/automation; the core's config schema includes these models.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class TeamSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    inboxes: list[str] = ["*"]  # inboxes whose unassigned conversations the team's agents see


class AutomationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
