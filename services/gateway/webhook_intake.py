"""Authentic pushes become deployments: one per environment that tracks the pushed ref (§10).

The checks run in the order of §10; size and content type are the handler's (they need the raw
request), then: unknown project (404), signature (401), JSON (400), event. The deployment id of a
delivery is deterministic, so a redelivered webhook finds its deployments and appends nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from libs.events.states import ProjectState
from libs.events.values import DeploymentType, Source, TriggerInfo
from libs.secrets import PROJECT_SCOPE, WEBHOOK_SECRET, Secrets
from services.gateway.deployments import Deployments, NewDeployment, Origin
from services.gateway.directory import Directory, EnvironmentView
from services.gateway.intake import snapshot
from services.gateway.names import deployment_id_for_webhook
from services.gateway.problems import not_found
from services.gateway.webhooks import Ignored, Ping, PushEvent, RefKind, WebhookResult
from services.gateway.webhooks_github import github_delivery_id, handle_github
from services.gateway.webhooks_gitlab import gitlab_delivery_id, handle_gitlab

Handle = Callable[[Mapping[str, str], bytes, "str | None"], WebhookResult]
DeliveryId = Callable[[Mapping[str, str]], "str | None"]


@dataclass(frozen=True)
class Provider:
    name: str  # the trigger kind: webhook-github, webhook-gitlab
    handle: Handle
    delivery_id: DeliveryId


GITHUB = Provider("webhook-github", handle_github, github_delivery_id)
GITLAB = Provider("webhook-gitlab", handle_gitlab, gitlab_delivery_id)


@dataclass(frozen=True)
class WebhookAnswer:
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    deployment_ids: tuple[str, ...] = ()


def tracking(environments: Mapping[str, EnvironmentView], push: PushEvent) -> list[str]:
    """Environments that deploy this push: auto deploy on, and the branch (or tags) tracked."""
    out = []
    for name, view in sorted(environments.items()):
        config = view.config
        if not config.auto_deploy:
            continue
        if push.kind is RefKind.BRANCH and config.branch == push.name:
            out.append(name)
        elif push.kind is RefKind.TAG and config.tags:
            out.append(name)
    return out


class WebhookIntake:
    def __init__(self, directory: Directory, secrets: Secrets, deployments: Deployments) -> None:
        self.directory = directory
        self.secrets = secrets
        self.deployments = deployments
        # A revision's value never changes, so a decrypted secret can be kept per revision.
        self._secrets: dict[tuple[str, int], str] = {}

    async def receive(
        self, provider: Provider, project: str, headers: Mapping[str, str], body: bytes
    ) -> WebhookAnswer:
        await self.directory.sync()
        state = self.directory.project(project)
        if state is None:
            raise not_found(f"no project {project!r}")
        secret = await self._webhook_secret(state)
        result = provider.handle(headers, body, secret)
        if isinstance(result, Ping):
            return WebhookAnswer(200, {"ok": True, "zen": result.zen, "hook_id": result.hook_id})
        if isinstance(result, Ignored):
            return _ignored(result.reason)
        if result.deleted:
            return _ignored(f"{result.kind.value} '{result.name}' was deleted")
        targets = tracking(self.directory.environments(project), result)
        if not targets:
            what = "tag pushes" if result.kind is RefKind.TAG else f"branch '{result.name}'"
            return _ignored(f"no environment of {project!r} deploys {what} automatically")
        delivery = provider.delivery_id(headers) or "body-" + hashlib.sha256(body).hexdigest()[:32]
        origin = Origin(
            actor=f"{provider.name}:{delivery}",
            request_id=delivery,
            trigger=TriggerInfo(kind=provider.name, request_id=delivery, actor=result.pusher),
        )
        source = Source(
            repo_url=state.repo_url or result.repo_url,
            branch=result.name,
            commit_sha=result.commit_sha,
            commit_message=result.commit_message,
        )
        environments = self.directory.environments(project)
        outcomes = await asyncio.gather(
            *(
                self.deployments.request(
                    NewDeployment(
                        deployment_id=deployment_id_for_webhook(project, env, delivery),
                        project=project,
                        environment=env,
                        kind=DeploymentType.GIT,
                        source=source,
                        config=snapshot(environments[env].config),
                    ),
                    origin,
                )
                for env in targets
            )
        )
        created = any(o.created for o in outcomes)
        return WebhookAnswer(
            202 if created else 200,
            {"deployments": [o.record for o in outcomes], "ignored": None},
            tuple(o.record["id"] for o in outcomes),
        )

    async def _webhook_secret(self, project: ProjectState) -> str | None:
        revision = project.webhook_secret_revision
        if revision is None:
            return None
        key = (project.name, revision)
        value = self._secrets.get(key)
        if value is None:
            value = await self.secrets.get(project.name, PROJECT_SCOPE, WEBHOOK_SECRET, revision)
            self._secrets[key] = value
        return value


def _ignored(reason: str) -> WebhookAnswer:
    return WebhookAnswer(202, {"deployments": [], "ignored": reason})
