"""Everything the handlers use, built once per process (main.py) and handed to `create_app`."""

from __future__ import annotations

from dataclasses import dataclass

from libs.artifacts import ArtifactStore
from libs.eventstore import JetStreamEventStore, Repository
from libs.secrets import Secrets
from libs.settings import Settings
from services.gateway.auth import TokenAuth
from services.gateway.deployments import Deployments
from services.gateway.directory import Directory
from services.gateway.projects import Projects
from services.gateway.webhook_intake import WebhookIntake


@dataclass(frozen=True)
class GatewayDeps:
    settings: Settings
    directory: Directory
    projects: Projects
    deployments: Deployments
    webhooks: WebhookIntake
    artifacts: ArtifactStore
    auth: TokenAuth


def gateway_deps(
    store: JetStreamEventStore, secrets: Secrets, artifacts: ArtifactStore, settings: Settings
) -> GatewayDeps:
    repo = Repository(store)
    directory = Directory(store)
    deployments = Deployments(store, repo, settings)
    return GatewayDeps(
        settings=settings,
        directory=directory,
        projects=Projects(store, repo, secrets, directory, settings),
        deployments=deployments,
        webhooks=WebhookIntake(directory, secrets, deployments),
        artifacts=artifacts,
        auth=TokenAuth(settings.admin_token),
    )
