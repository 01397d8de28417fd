"""One git process at a time for a checkout: output streamed to the job log, killed on cancel."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from services.clone.git import GitError, LineSink, Stream

_SPLIT = re.compile(r"[\r\n]")


@dataclass
class GitRun:
    rc: int
    stdout: str
    stderr_tail: list[str] = field(default_factory=list)


def last_lines(result: GitRun) -> str:
    lines = [ln for ln in result.stderr_tail if ln.strip()]
    return " / ".join(lines[-3:]) or f"exit code {result.rc}"


class GitProcess:
    """Runs git processes of one checkout, streaming their output to the job log."""

    def __init__(
        self,
        binary: str,
        env: dict[str, str],
        cwd: Path,
        log: LineSink,
        secrets: list[str],
        progress_every_s: float,
    ) -> None:
        self.binary = binary
        self.env = env
        self.cwd = cwd
        self._log = log
        self.secrets = secrets
        self.progress_every_s = progress_every_s

    def log(self, line: str, stream: Stream) -> None:
        for secret in self.secrets:
            line = line.replace(secret, "***")
        self._log(line, stream)

    async def run(
        self,
        *args: str,
        cwd: Path | None = None,
        check: bool = True,
        quiet: bool = False,
        failure: Callable[[GitRun], None] | None = None,
    ) -> GitRun:
        if not quiet:
            self.log(f"$ git {' '.join(args)}", "system")
        proc = await asyncio.create_subprocess_exec(
            self.binary,
            *args,
            cwd=cwd or self.cwd,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group: a kill reaches ssh and helpers too
        )
        assert proc.stdout is not None and proc.stderr is not None
        tail: list[str] = []
        try:
            out, _ = await asyncio.gather(
                self._pump(proc.stdout, "stdout", [], capture=quiet, show=not quiet),
                self._pump(proc.stderr, "stderr", tail, capture=False, show=not quiet),
            )
            rc = await proc.wait()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(BaseException):
                await asyncio.shield(proc.wait())
            raise
        result = GitRun(rc, out, tail)
        if rc != 0 and check:
            if failure is not None:
                failure(result)
            raise GitError(f"git {args[0]} failed: {last_lines(result)}")
        return result

    async def _pump(
        self,
        stream: asyncio.StreamReader,
        name: Stream,
        tail: list[str],
        *,
        capture: bool,
        show: bool,
    ) -> str:
        captured: list[str] = []
        pending = ""
        last_progress = 0.0
        while chunk := await stream.read(65536):
            text = pending + chunk.decode("utf-8", errors="replace")
            if capture:
                captured.append(text)
                pending = ""
                continue
            pos = 0
            for sep in _SPLIT.finditer(text):
                line = text[pos : sep.start()]
                pos = sep.end()
                if sep.group() == "\r":
                    # Progress redraws: keep at most one a second.
                    now = time.monotonic()
                    if now - last_progress < self.progress_every_s:
                        continue
                    last_progress = now
                self._emit(line, name, tail, show)
            pending = text[pos:]
        if pending and not capture:
            self._emit(pending, name, tail, show)
        return "".join(captured)

    def _emit(self, line: str, name: Stream, tail: list[str], show: bool) -> None:
        line = line.rstrip()
        if not line:
            return
        for secret in self.secrets:
            line = line.replace(secret, "***")
        tail.append(line)
        del tail[:-20]
        if show:
            self._log(line, name)


def tree_size(root: Path) -> int:
    """Bytes of the regular files under `root` (links are not followed)."""
    total = 0
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total
