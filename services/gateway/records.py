"""§10 records of projects and environments as the gateway answers them (variable names only)."""

from __future__ import annotations

from typing import Any

from libs.events.states import ProjectState
from libs.events.subjects import environment_id
from libs.records import environment_url, iso
from libs.settings import Settings
from services.gateway.directory import EnvironmentView

Record = dict[str, Any]

CONFIG_FIELDS = (
    "branch", "tags", "auto_deploy", "policy", "health_path", "expected_status", "port",
    "replicas", "cpu", "memory", "app_dir", "preset", "domain",
)  # fmt: skip


def environment_record(view: EnvironmentView, settings: Settings) -> Record:
    config = view.config
    dumped = config.model_dump(mode="json")
    record: Record = {
        "id": environment_id(config.project, config.environment),
        "project": config.project,
        "name": config.environment,
    }
    record.update({k: dumped[k] for k in CONFIG_FIELDS})
    record["variables"] = sorted(config.variables)
    record["configured"] = True
    record["url"] = environment_url(
        config.project, config.environment, settings.base_domain, settings.edge_port
    )
    record["seq"] = view.seq
    return record


def project_record(
    project: ProjectState, environments: list[EnvironmentView], settings: Settings, seq: int
) -> Record:
    return {
        "id": project.id,
        "name": project.name,
        "repo_url": project.repo_url,
        "webhook_secret_set": project.webhook_secret_revision is not None,
        "created_at": iso(project.created_at),
        "environments": [
            environment_record(v, settings)
            for v in sorted(environments, key=lambda v: v.config.environment)
        ],
        "seq": seq,
    }
