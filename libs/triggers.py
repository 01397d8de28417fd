"""The deploy-trigger contract (§2): what external systems publish on `triggers.deploy`.

A trigger is published to the work-queue stream SLIPWAY_TRIGGERS; the gateway consumes it,
validates it exactly as it validates the HTTP manual trigger and image deploy, and publishes a
`TriggerResult` on `triggers.results.<trigger_id>` and in KV `trigger-results` (24 h) under the
key `<trigger_id>`. The trigger id names the deployment deterministically, so publishing the
same trigger twice never makes two deployments.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TRIGGER_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class DeployTrigger(BaseModel):
    """A request to deploy, published on `triggers.deploy` as JSON.

    Either a git deploy (`branch` and/or `commit`; both absent = the environment's branch) or an
    image deploy (`image_ref`), never both.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    trigger_id: str = Field(
        pattern=TRIGGER_ID_RE.pattern,
        description="Caller-chosen unique id (1-128 of A-Z a-z 0-9 _ -); names the result.",
    )
    project: str = Field(description="Project name.")
    environment: str = Field(description="Environment name.")
    branch: str | None = Field(default=None, description="Branch to build (git deploy).")
    commit: str | None = Field(default=None, description="Exact commit to build (git deploy).")
    image_ref: str | None = Field(default=None, description="Registry image (image deploy).")
    pull: Literal["missing", "always"] | None = Field(
        default=None, description="Image pull policy (image deploy); default missing."
    )
    requested_by: str | None = Field(default=None, description="Who asked, for the audit log.")


class TriggerResult(BaseModel):
    """The outcome of one trigger."""

    model_config = ConfigDict(frozen=True)

    trigger_id: str = Field(description="The trigger this answers.")
    accepted: bool = Field(description="True when a deployment exists for the trigger.")
    deployment_id: str | None = Field(default=None, description="The deployment, if accepted.")
    seq: int | None = Field(default=None, description="Event-store sequence of its request.")
    created: bool = Field(default=False, description="False when an earlier delivery made it.")
    status: int = Field(description="The HTTP status the same request would have had.")
    reason: str | None = Field(default=None, description="Why it was refused.")
    at: datetime = Field(description="When the gateway decided (UTC).")
