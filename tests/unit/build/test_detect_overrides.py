"""Forced presets, slipway.toml, app_dir, and the inputs detection refuses."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.build import DetectionError
from tests.unit.build.helpers import MakeRepo, pkg, run, toml

NODE = {"package.json": pkg(scripts={"start": "node a.js"}), "a.js": ""}


def test_forced_preset_beats_detection(make_repo: MakeRepo) -> None:
    root = make_repo({"Dockerfile": "FROM x\n", **NODE})
    found = run(root, preset="node")
    assert found.preset == "node"
    assert found.signal == "environment preset (package.json start script)"
    assert found.generated is True


def test_forced_preset_beats_slipway_toml_preset(make_repo: MakeRepo) -> None:
    root = make_repo({"index.html": "", **NODE})
    found = run(root, preset="static", slipway=toml('[build]\npreset = "node"\n'))
    assert found.preset == "static"


def test_slipway_toml_preset_beats_detection(make_repo: MakeRepo) -> None:
    root = make_repo({"Dockerfile": "FROM x\n", **NODE})
    found = run(root, slipway=toml('[build]\npreset = "node"\n'))
    assert (found.preset, found.signal) == (
        "node",
        "slipway.toml [build] preset (package.json start script)",
    )


def test_forced_preset_name_is_case_insensitive(make_repo: MakeRepo) -> None:
    assert run(make_repo(NODE), preset="Node").preset == "node"


def test_unknown_forced_preset_is_refused_with_the_valid_names(make_repo: MakeRepo) -> None:
    with pytest.raises(DetectionError, match=r"unknown preset 'php'.*dockerfile, nextjs"):
        run(make_repo(NODE), preset="php")


def test_unknown_toml_preset_names_slipway_toml(make_repo: MakeRepo) -> None:
    with pytest.raises(DetectionError, match=r"slipway\.toml"):
        run(make_repo(NODE), slipway=toml('[build]\npreset = "cobol"\n'))


@pytest.mark.parametrize(
    ("preset", "needs"),
    [
        ("dockerfile", "Dockerfile"),
        ("nextjs", "package.json"),
        ("vite", "package.json"),
        ("node", "package.json"),
        ("python", "requirements.txt"),
        ("go", "go.mod"),
        ("rust", "Cargo.toml"),
        ("static", "index.html"),
    ],
)
def test_forced_preset_that_does_not_apply_says_what_it_needs(
    make_repo: MakeRepo, preset: str, needs: str
) -> None:
    with pytest.raises(DetectionError, match=needs):
        run(make_repo({"README.md": ""}), preset=preset)


def test_forced_vite_builds_any_node_project_to_static_files(make_repo: MakeRepo) -> None:
    root = make_repo({"package.json": pkg(scripts={"build": "react-scripts build"})})
    found = run(root, preset="vite", slipway=toml('[build]\nstatic_dir = "build"\n'))
    assert (found.kind, found.static_output_dir) == ("static", "build")
    assert "COPY --from=build /app/build /site/" in found.dockerfile


def test_forced_node_accepts_a_toml_start_command(make_repo: MakeRepo) -> None:
    root = make_repo({"package.json": pkg(name="x")})
    found = run(root, slipway=toml('[build]\npreset = "node"\nstart = "node dist/x.js"\n'))
    assert found.start_command == "node dist/x.js"


def test_toml_start_command_overrides_the_detected_one(make_repo: MakeRepo) -> None:
    found = run(make_repo(NODE), slipway=toml('[build]\nstart = "node --enable-x a.js"\n'))
    assert found.start_command == "node --enable-x a.js"
    assert 'CMD ["node", "--enable-x", "a.js"]' in found.dockerfile


def test_toml_start_command_rescues_python_without_entry_point(make_repo: MakeRepo) -> None:
    root = make_repo({"requirements.txt": "aiohttp\n"})
    found = run(root, slipway=toml('[build]\nstart = "python -m svc"\n'))
    assert found.start_command == "python -m svc"


def test_toml_static_dir_overrides_vite_output(make_repo: MakeRepo) -> None:
    root = make_repo({"vite.config.js": "", "package.json": pkg(scripts={"build": "vite build"})})
    found = run(root, slipway=toml('[build]\nstatic_dir = "public-build"\n'))
    assert found.static_output_dir == "public-build"


def test_toml_static_dir_selects_static_as_last_resort(make_repo: MakeRepo) -> None:
    root = make_repo({"site/index.html": ""})
    found = run(root, slipway=toml('[build]\nstatic_dir = "site"\n'))
    assert (found.preset, found.static_output_dir) == ("static", "site")


def test_forced_static_dir_must_exist(make_repo: MakeRepo) -> None:
    with pytest.raises(DetectionError, match="not a directory"):
        run(
            make_repo({"index.html": ""}),
            preset="static",
            slipway=toml('[build]\nstatic_dir = "nope"\n'),
        )


def test_toml_port_sets_the_port_hint_and_the_generated_port(make_repo: MakeRepo) -> None:
    found = run(make_repo(NODE), slipway=toml("[deploy]\nport = 8080\n"))
    assert found.port == 8080
    assert "PORT=8080" in found.dockerfile and "EXPOSE 8080" in found.dockerfile


def test_toml_port_beats_dockerfile_expose(make_repo: MakeRepo) -> None:
    root = make_repo({"Dockerfile": "FROM x\nEXPOSE 5000\n"})
    assert run(root, slipway=toml("[deploy]\nport = 9000\n")).port == 9000


def test_app_dir_detects_inside_the_subdirectory(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "index.html": "",
            "api/requirements.txt": "flask\n",
            "api/app.py": "from flask import Flask\napp = Flask(__name__)\n",
        }
    )
    found = run(root, app_dir="api")
    assert (found.preset, found.context_dir) == ("python", "api")


def test_app_dir_in_a_workspace_builds_from_the_workspace_root(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "package.json": pkg(workspaces=["apps/*"]),
            "yarn.lock": "",
            "apps/web/package.json": pkg(scripts={"start": "node s.js", "build": "tsc"}),
        }
    )
    found = run(root, app_dir="apps/web/")
    assert (found.context_dir, found.package_manager) == (".", "yarn")
    assert "WORKDIR /app/apps/web\nRUN yarn run build" in found.dockerfile


def test_app_dir_with_its_own_lockfile_is_its_own_context(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "package.json": pkg(workspaces=["apps/*"]),
            "apps/web/package.json": pkg(scripts={"start": "node s.js"}),
            "apps/web/pnpm-lock.yaml": "",
        }
    )
    found = run(root, app_dir="apps/web")
    assert (found.context_dir, found.package_manager) == ("apps/web", "pnpm")


def test_app_dir_in_a_cargo_workspace_selects_the_member(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "Cargo.toml": '[workspace]\nmembers = ["srv"]\n',
            "srv/Cargo.toml": '[package]\nname = "srv"\nversion = "0.1.0"\n',
            "srv/src/main.rs": "",
        }
    )
    found = run(root, app_dir="srv")
    assert found.context_dir == "."
    assert "cargo build --release -p srv" in found.dockerfile


def test_app_dir_below_a_go_module_builds_that_package(make_repo: MakeRepo) -> None:
    root = make_repo({"go.mod": "module m\n", "cmd/api/main.go": "package main\n"})
    found = run(root, app_dir="cmd/api")
    assert (found.context_dir, found.signal) == (".", "go.mod in .")
    assert "-o /out/app ./cmd/api" in found.dockerfile


def test_monorepo_without_app_dir_is_refused_with_candidates(make_repo: MakeRepo) -> None:
    root = make_repo({"apps/web/package.json": "{}", "apps/api/go.mod": "module a\n"})
    with pytest.raises(DetectionError, match="set app_dir to one of apps/api, apps/web"):
        run(root)


@pytest.mark.parametrize("app_dir", ["../elsewhere", "/etc", "a/../../b"])
def test_app_dir_outside_the_repository_is_refused(make_repo: MakeRepo, app_dir: str) -> None:
    with pytest.raises(DetectionError, match="inside the repository"):
        run(make_repo(NODE), app_dir=app_dir)


def test_missing_app_dir_is_refused(make_repo: MakeRepo) -> None:
    with pytest.raises(DetectionError, match="not a directory of the repository"):
        run(make_repo(NODE), app_dir="nope")


def test_app_dir_symlinked_out_of_the_repository_is_refused(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    root = make_repo(NODE)
    os.symlink(tmp_path, root / "escape")
    with pytest.raises(DetectionError, match="not a directory of the repository"):
        run(root, app_dir="escape")


def test_file_symlinked_out_of_the_repository_is_ignored(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    outside = tmp_path / "secret"
    outside.write_text("FROM x\n")
    root = make_repo({"index.html": ""})
    os.symlink(outside, root / "Dockerfile")
    assert run(root).preset == "static"


def test_path_that_is_not_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DetectionError, match="is not a directory"):
        run(tmp_path / "missing")
