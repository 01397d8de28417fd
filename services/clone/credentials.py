"""The port to the secrets a checkout may need (§5: fixed names in the secrets KV).

A `SecretStore` over the `secrets` KV is being written in `libs/secrets.py`; until it lands,
`EnvCredentials` (adapters/env_credentials.py) reads the same names from the process environment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from services.clone.git import GitAuth
from services.clone.urls import RepoUrl

GIT_TOKEN = "SLIPWAY_GIT_TOKEN"
GIT_SSH_KEY = "SLIPWAY_GIT_SSH_KEY"


class BadCredential(ValueError):
    """A stored credential that cannot be used as it is (the message never shows it)."""


class Credentials(Protocol):
    """The secrets of one environment, by name."""

    async def get(self, name: str) -> str | None:
        """The current value of secret `name`, or None when it is not set."""
        ...


CredentialsFor = Callable[[str, str], Credentials]
"""(project, environment) -> that environment's credentials."""


async def git_auth(url: RepoUrl, credentials: Credentials) -> GitAuth:
    """The credential that fits the URL: a token for https, a key for ssh, none for local."""
    if url.scheme == "https":
        token = await credentials.get(GIT_TOKEN)
        if token is None or not token.strip():
            return GitAuth()
        token = token.strip()
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in token):
            raise BadCredential(f"the {GIT_TOKEN} secret contains control characters")
        return GitAuth(token=token)
    if url.scheme == "ssh":
        key = await credentials.get(GIT_SSH_KEY)
        if key is None or not key.strip():
            return GitAuth()
        if "PRIVATE KEY-----" not in key:
            raise BadCredential(f"the {GIT_SSH_KEY} secret does not hold a private key")
        return GitAuth(ssh_key=key)
    return GitAuth()
