"""Carrying out retention: remove the image or the static tree, then record `ArtifactPruned`."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path

from libs.containers.runtime import ImageInUse, ImageStore
from libs.eventstore import Repository
from services.deploy.appends import record_pruned
from services.deploy.retention import Prune

log = logging.getLogger("slipway.deploy.retention")


def static_tree(ref: str, static_dir: Path) -> Path | None:
    """The directory a static prune may delete: strictly inside the static root, else None."""
    root = Path(os.path.normpath(ref))
    return root if root.is_absolute() and static_dir in root.parents else None


class Pruner:
    def __init__(self, images: ImageStore, repo: Repository, static_dir: Path) -> None:
        self.images = images
        self.repo = repo
        self.static_dir = static_dir

    async def prune(self, prune: Prune) -> bool:
        """Removes one artifact and records it; False when it must stay for now."""
        if prune.kind == "image":
            try:
                await self.images.remove_image(prune.ref)
            except ImageInUse as exc:
                # A container this log does not know still runs it; try again next pass.
                log.info("retention keeps %s for now: %s", prune.ref, exc)
                return False
        else:
            root = static_tree(prune.ref, self.static_dir)
            if root is None:
                log.warning("retention keeps %s: not under %s", prune.ref, self.static_dir)
                return False
            await asyncio.to_thread(shutil.rmtree, root, True)
        await record_pruned(self.repo, prune.deployment_id, prune.kind, prune.ref)
        log.info("pruned %s %s of %s", prune.kind, prune.ref, prune.deployment_id)
        return True
