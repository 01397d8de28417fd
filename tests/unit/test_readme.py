"""README.md stays true: every `slipway` command in its tested examples exists with the options it
uses, and its settings table is the one generated from `Settings`.

A fenced `bash` block is tested when the line before it is `<!-- test -->`.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from slipway.cli import app
from slipway.docs import README, with_table

MARKER = "<!-- test -->"
SEPARATORS = {"&&", "||", ";", "|", "&"}


def blocks_under_test(text: str) -> list[str]:
    blocks = re.findall(r"^<!-- test -->\n```bash\n(.*?)^```", text, re.M | re.S)
    assert len(blocks) == text.count(MARKER), "a `<!-- test -->` is not right above a ```bash"
    return blocks


def slipway_commands(block: str) -> list[list[str]]:
    commands: list[list[str]] = []
    for line in block.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        current: list[str] = []
        for token in [*lexer, ";"]:
            if token in SEPARATORS:
                if current and current[0] == "slipway":
                    commands.append(current[1:])
                current = []
            else:
                current.append(token)
    return commands


def resolve(words: list[str]) -> tuple[list[str], Any]:
    """The longest command path at the start of `words` (`deployments list`) and its command."""
    command: Any = typer.main.get_command(app)
    path: list[str] = []
    for word in words:
        if word not in getattr(command, "commands", {}):
            break
        command = command.commands[word]
        path.append(word)
    return path, command


README_TEXT = README.read_text(encoding="utf-8")
COMMANDS = [c for block in blocks_under_test(README_TEXT) for c in slipway_commands(block)]


def test_the_readme_examples_cover_the_first_steps_and_the_audit() -> None:
    used = {" ".join(resolve(words)[0]) for words in COMMANDS}
    wanted = {"projects create", "deploy", "logs", "rollback", "events show", "audit verify"}
    assert wanted <= used


@pytest.mark.parametrize("words", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_each_readme_command_exists_with_the_options_it_uses(words: list[str]) -> None:
    path, command = resolve(words)
    assert path, f"`slipway {' '.join(words)}`: no such command"
    assert not hasattr(command, "commands"), f"`slipway {' '.join(path)}` needs a subcommand"
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    for word in words[len(path) :]:
        option = word.split("=", 1)[0]
        if option.startswith("-") and option != "-":
            assert option in known, f"`slipway {' '.join(path)}` has no option {option}"


def test_the_settings_table_is_generated_from_settings() -> None:
    assert with_table(README_TEXT) == README_TEXT, (
        "README.md's settings table is stale: run `uv run python -m slipway.docs`"
    )


def test_the_readme_names_the_two_first_commands() -> None:
    assert "make run" in README_TEXT and "make test" in README_TEXT
    assert (Path(__file__).resolve().parents[2] / "docs" / "decisions.md").is_file()
