"""The artifacts router of the query API in a small app of its own, on the real stores."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from nats.aio.client import Client as NATS

from libs.artifacts import NatsArtifactStore
from libs.eventstore import Repository
from services.projector.artifacts_api import ArtifactsDeps, deployment_loader, router


def artifacts_client(nc: NATS, repo: Repository) -> httpx.AsyncClient:
    app = FastAPI()
    deps = ArtifactsDeps(
        objects=NatsArtifactStore(nc.jetstream()), deployment=deployment_loader(repo)
    )
    app.include_router(router(deps))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://query")
