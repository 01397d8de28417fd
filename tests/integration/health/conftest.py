"""The run side in-process (deploy and health executors, toy routing) for health tests."""

from __future__ import annotations

from tests.integration.deploy.runside import deploy_app_image, http, side

__all__ = ["deploy_app_image", "http", "side"]
