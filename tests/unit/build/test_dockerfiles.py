"""Generated Dockerfiles: base images from settings, non-root, PORT, CA bundle, stages."""

from __future__ import annotations

from pathlib import Path

import pytest

from libs.settings import Settings
from services.build import (
    CA_BUNDLE_NAME,
    GENERATED_DOCKERFILE_NAME,
    Detection,
    DockerfileSettings,
    dockerignore_for,
)
from services.build.dockerfiles import CA_VARIABLES, start_cmd
from tests.unit.build.helpers import MakeRepo, pkg, run

FLASK = "from flask import Flask\napp = Flask(__name__)\n"
APPS: dict[str, dict[str, str]] = {
    "node": {"package.json": pkg(scripts={"start": "node a.js"}), "package-lock.json": "{}"},
    "nextjs": {"next.config.js": "", "package.json": pkg(dependencies={"next": "14"})},
    "vite": {"vite.config.ts": "", "package.json": pkg(scripts={"build": "vite build"})},
    "python": {"requirements.txt": "flask\n", "app.py": FLASK},
    "go": {"go.mod": "module m\n", "main.go": "package main\n"},
    "rust": {"Cargo.toml": '[package]\nname = "a"\nversion = "0.1.0"\n', "src/main.rs": ""},
}
CONTAINER = ["node", "nextjs", "python", "go", "rust"]
OVERRIDES = {
    "node": "registry.local/node:20",
    "python": "registry.local/python:3.12",
    "go": "registry.local/go:1.22",
    "rust": "registry.local/rust:1.79",
    "runtime": "registry.local/debian:12",
}
CA = DockerfileSettings(ca_bundle=Path("/etc/site/ca.pem"))


def _froms(dockerfile: str) -> list[str]:
    return [line.split()[1] for line in dockerfile.splitlines() if line.startswith("FROM ")]


@pytest.mark.parametrize(
    ("preset", "images"),
    [
        ("node", ["node:20-bookworm-slim", "node:20-bookworm-slim"]),
        ("nextjs", ["node:20-bookworm-slim", "node:20-bookworm-slim"]),
        ("vite", ["node:20-bookworm-slim", "scratch"]),
        ("python", ["python:3.12-slim", "python:3.12-slim"]),
        ("go", ["golang:1.22", "debian:bookworm-slim"]),
        ("rust", ["rust:1.79", "debian:bookworm-slim"]),
    ],
)
def test_default_base_images_and_two_stages(
    make_repo: MakeRepo, preset: str, images: list[str]
) -> None:
    found = run(make_repo(APPS[preset]))
    assert found.preset == preset
    assert _froms(found.dockerfile) == images
    assert f"FROM {images[0]} AS build" in found.dockerfile


@pytest.mark.parametrize("preset", list(APPS))
def test_base_images_come_from_settings(make_repo: MakeRepo, preset: str) -> None:
    settings = DockerfileSettings(base_images=OVERRIDES)
    froms = _froms(run(make_repo(APPS[preset]), settings=settings).dockerfile)
    assert all(image.startswith("registry.local/") or image == "scratch" for image in froms)


@pytest.mark.parametrize("preset", CONTAINER)
def test_container_images_run_as_non_root_and_honour_port(make_repo: MakeRepo, preset: str) -> None:
    text = run(make_repo(APPS[preset])).dockerfile
    final = text.split("\nFROM ")[-1]
    assert "USER 10001:10001" in final
    assert "PORT=3000" in final
    assert "EXPOSE 3000" in final
    assert final.rstrip().splitlines()[-1].startswith("CMD ")


@pytest.mark.parametrize("preset", list(APPS))
def test_ca_lines_appear_only_when_a_bundle_is_set(make_repo: MakeRepo, preset: str) -> None:
    root = make_repo(APPS[preset])
    assert CA_BUNDLE_NAME not in run(root).dockerfile
    assert "SSL_CERT_FILE" not in run(root).dockerfile
    build_stage = run(root, settings=CA).dockerfile.split("\n\nFROM ")[0]
    assert f"COPY {CA_BUNDLE_NAME} /etc/slipway/ca.crt" in build_stage
    for name in CA_VARIABLES:
        assert f"{name}=/etc/slipway/ca.crt" in build_stage


def test_ca_is_copied_before_anything_downloads(make_repo: MakeRepo) -> None:
    text = run(make_repo(APPS["node"]), settings=CA).dockerfile
    assert text.index(CA_BUNDLE_NAME) < text.index("RUN npm ci")


def test_static_output_has_no_image_only_files(make_repo: MakeRepo) -> None:
    found = run(make_repo(APPS["vite"]))
    final = found.dockerfile.split("\nFROM ")[-1]
    assert final.splitlines() == ["scratch", "COPY --from=build /app/dist /site/"]
    assert "USER" not in found.dockerfile and "EXPOSE" not in found.dockerfile


def test_plain_static_site_needs_no_base_image(make_repo: MakeRepo) -> None:
    text = run(make_repo({"index.html": ""}), settings=CA).dockerfile
    assert _froms(text) == ["scratch"]
    assert "COPY . /site/" in text


def test_stdlib_python_is_one_stage_without_pip(make_repo: MakeRepo) -> None:
    text = run(make_repo({"main.py": "import os\n"}), settings=CA).dockerfile
    assert _froms(text) == ["python:3.12-slim"]
    assert "pip" not in text and "venv" not in text
    assert "USER 10001:10001" in text and "PORT=3000" in text


def test_python_installs_into_a_venv_copied_to_the_runtime(make_repo: MakeRepo) -> None:
    text = run(make_repo(APPS["python"])).dockerfile
    assert "RUN python3 -m venv /opt/venv" in text
    assert "COPY --from=build /opt/venv /opt/venv" in text
    assert "COPY requirements.txt ./\nRUN pip install -r requirements.txt" in text


def test_requirements_pointing_at_local_files_copy_the_tree_first(make_repo: MakeRepo) -> None:
    root = make_repo({"requirements.txt": "-e .\n", "setup.py": "", "app.py": FLASK})
    assert "COPY . .\nRUN pip install -r requirements.txt" in run(root).dockerfile


def test_python_start_command_expands_port_through_a_shell(make_repo: MakeRepo) -> None:
    text = run(make_repo(APPS["python"])).dockerfile
    assert 'CMD ["sh", "-c", "exec gunicorn --bind 0.0.0.0:${PORT} app:app"]' in text


def test_uv_and_poetry_projects_use_their_lockfiles(make_repo: MakeRepo) -> None:
    uv = run(make_repo({"pyproject.toml": "[project]\nname='a'\n", "uv.lock": "", "main.py": ""}))
    assert "uv sync --frozen --no-dev" in uv.dockerfile
    assert "COPY pyproject.toml uv.lock ./" in uv.dockerfile
    poetry = "[tool.poetry]\nname = 'a'\n"
    found = run(make_repo({"pyproject.toml": poetry, "poetry.lock": "", "main.py": ""}))
    assert "poetry install --only main --no-root" in found.dockerfile


def test_go_binary_ships_with_ca_certificates_and_no_toolchain(make_repo: MakeRepo) -> None:
    text = run(make_repo({**APPS["go"], "go.sum": ""})).dockerfile
    final = text.split("\nFROM ")[-1]
    assert "CGO_ENABLED=0" in text
    assert "COPY go.mod go.sum ./\nRUN go mod download" in text
    assert "COPY --from=build /out/app /usr/local/bin/app" in final
    assert "ca-certificates.crt" in final
    assert 'CMD ["/usr/local/bin/app"]' in final


def test_rust_locked_build_when_cargo_lock_exists(make_repo: MakeRepo) -> None:
    text = run(make_repo({**APPS["rust"], "Cargo.lock": ""})).dockerfile
    assert "cargo build --release --locked && cp target/release/a /out/app" in text


def test_next_standalone_copies_only_the_server_bundle(make_repo: MakeRepo) -> None:
    files = {**APPS["nextjs"], "next.config.js": "module.exports = {output: 'standalone'}"}
    final = run(make_repo(files)).dockerfile.split("\nFROM ")[-1]
    assert "ENV HOSTNAME=0.0.0.0" in final
    assert "/app/.next/standalone ./" in final
    assert "/app/public" not in final


def test_pnpm_runtime_keeps_corepack_offline(make_repo: MakeRepo) -> None:
    files = {"package.json": pkg(scripts={"start": "node a.js"}), "pnpm-lock.yaml": ""}
    final = run(make_repo(files)).dockerfile.split("\nFROM ")[-1]
    assert "COPY --from=build /opt/corepack /opt/corepack" in final
    assert 'CMD ["pnpm", "start"]' in final


def test_install_hooks_get_the_whole_tree_before_install(make_repo: MakeRepo) -> None:
    files = {
        "package.json": pkg(scripts={"start": "node a.js", "postinstall": "prisma generate"}),
        "package-lock.json": "{}",
    }
    assert "COPY . .\nRUN npm ci" in run(make_repo(files)).dockerfile


def test_bun_projects_build_on_the_bun_image(make_repo: MakeRepo) -> None:
    files = {"package.json": pkg(scripts={"start": "bun a.ts"}), "bun.lock": ""}
    settings = DockerfileSettings(base_images={"bun": "registry.local/bun:1"})
    assert _froms(run(make_repo(files), settings=settings).dockerfile)[0] == "registry.local/bun:1"


@pytest.mark.parametrize(
    ("command", "cmd"),
    [
        ("npm start", 'CMD ["npm", "start"]'),
        ("uvicorn a:b --port $PORT", 'CMD ["sh", "-c", "exec uvicorn a:b --port $PORT"]'),
        ("./migrate && ./serve", 'CMD ["sh", "-c", "./migrate && ./serve"]'),
    ],
)
def test_start_command_becomes_exec_form_unless_it_needs_a_shell(command: str, cmd: str) -> None:
    assert start_cmd(command) == cmd


def test_generated_dockerfile_names_its_preset_and_signal(make_repo: MakeRepo) -> None:
    first = run(make_repo(APPS["node"])).dockerfile.splitlines()[0]
    assert first == "# Generated by Slipway: preset node (decided by package.json start script)."


def test_settings_fall_back_from_next_and_vite_to_node() -> None:
    settings = DockerfileSettings(base_images={"node": "my/node"})
    assert settings.base_image("vite") == settings.base_image("nextjs") == "my/node"
    assert DockerfileSettings(base_images={"vite": "my/vite"}).base_image("vite") == "my/vite"
    assert DockerfileSettings().base_image("runtime") == "debian:bookworm-slim"


def test_settings_refuse_an_unknown_preset() -> None:
    with pytest.raises(ValueError, match="no base image"):
        DockerfileSettings().base_image("cobol")


def test_settings_are_read_from_slipway_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLIPWAY_BASE_IMAGE_PYTHON", "site/python:3.12")
    monkeypatch.setenv("SLIPWAY_BUILD_CA_BUNDLE", "/etc/site/ca.pem")
    settings = DockerfileSettings.from_settings(Settings())
    assert settings.base_image("python") == "site/python:3.12"
    assert settings.base_image("node") == "node:20-bookworm-slim"
    assert settings.ca_bundle == Path("/etc/site/ca.pem")


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("node", "node_modules"),
        ("nextjs", ".next"),
        ("python", "__pycache__"),
        ("rust", "target"),
    ],
)
def test_dockerignore_for_each_preset(make_repo: MakeRepo, preset: str, expected: str) -> None:
    text = dockerignore_for(run(make_repo(APPS[preset])))
    lines = text.splitlines()
    assert ".git" in lines and expected in lines and GENERATED_DOCKERFILE_NAME in lines
    assert CA_BUNDLE_NAME not in text


def test_dockerignore_is_empty_for_the_repositorys_own_dockerfile() -> None:
    detection = Detection(
        preset="dockerfile",
        kind="container",
        signal="Dockerfile",
        start_command=None,
        static_output_dir=None,
        dockerfile="FROM x\n",
        package_manager=None,
        port=None,
        generated=False,
        dockerfile_path="Dockerfile",
    )
    assert dockerignore_for(detection) == ""
