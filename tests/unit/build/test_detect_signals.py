"""Every detection signal, and the order in which they win."""

from __future__ import annotations

import pytest

from services.build import DetectionError
from tests.unit.build.helpers import MakeRepo, pkg, run

FLASK = "from flask import Flask\napp = Flask(__name__)\n"
FASTAPI = "from fastapi import FastAPI\napp = FastAPI()\n"
GO_MAIN = "package main\n\nfunc main() {}\n"
NEXT = pkg(scripts={"build": "next build", "start": "next start"}, dependencies={"next": "14"})


@pytest.mark.parametrize("name", ["Dockerfile", "Containerfile"])
def test_repository_dockerfile_is_used_as_is(make_repo: MakeRepo, name: str) -> None:
    text = "FROM busybox\nEXPOSE 8080/tcp\nCMD httpd\n"
    found = run(make_repo({name: text}))
    assert (found.preset, found.signal, found.kind) == ("dockerfile", name, "container")
    assert found.dockerfile == text
    assert found.generated is False and found.dockerfile_path == name
    assert found.port == 8080


def test_repository_dockerfile_without_expose_gives_no_port_hint(make_repo: MakeRepo) -> None:
    assert run(make_repo({"Dockerfile": "FROM busybox\n"})).port is None


@pytest.mark.parametrize("config", ["next.config.js", "next.config.mjs", "next.config.ts"])
def test_next_config_file_selects_nextjs(make_repo: MakeRepo, config: str) -> None:
    found = run(make_repo({config: "export default {}\n", "package.json": NEXT}))
    assert (found.preset, found.signal, found.kind) == ("nextjs", config, "container")
    assert found.start_command == "npm start"


def test_next_dependency_without_config_selects_nextjs(make_repo: MakeRepo) -> None:
    found = run(make_repo({"package.json": NEXT}))
    assert (found.preset, found.signal) == ("nextjs", "package.json dependency next")


def test_next_standalone_output_starts_server_js(make_repo: MakeRepo) -> None:
    config = "module.exports = { output: 'standalone' }\n"
    found = run(make_repo({"next.config.js": config, "package.json": NEXT}))
    assert found.start_command == "node server.js"
    assert ".next/standalone" in found.dockerfile


def test_next_export_is_static_output(make_repo: MakeRepo) -> None:
    config = "module.exports = { output: 'export', distDir: 'public-out' }\n"
    found = run(make_repo({"next.config.js": config, "package.json": NEXT}))
    assert (found.kind, found.static_output_dir, found.port) == ("static", "public-out", None)
    assert found.start_command is None


def test_next_config_without_package_json_is_refused(make_repo: MakeRepo) -> None:
    with pytest.raises(DetectionError, match=r"no package\.json"):
        run(make_repo({"next.config.js": "module.exports = {}\n"}))


@pytest.mark.parametrize("ext", ["js", "mjs", "cjs", "ts", "mts"])
def test_vite_config_selects_static_vite(make_repo: MakeRepo, ext: str) -> None:
    files = {
        f"vite.config.{ext}": "export default {}\n",
        "package.json": pkg(scripts={"build": "vite build"}),
    }
    found = run(make_repo(files))
    assert (found.preset, found.signal, found.kind) == ("vite", f"vite.config.{ext}", "static")
    assert found.static_output_dir == "dist"
    assert found.start_command is None and found.port is None


def test_vite_out_dir_is_read_from_config(make_repo: MakeRepo) -> None:
    config = 'export default { build: { outDir: "www" } }\n'
    found = run(make_repo({"vite.config.js": config, "package.json": pkg()}))
    assert found.static_output_dir == "www"


def test_vite_build_script_without_config_selects_vite(make_repo: MakeRepo) -> None:
    files = {"package.json": pkg(scripts={"build": "vite build"}, devDependencies={"vite": "5"})}
    found = run(make_repo(files))
    assert (found.preset, found.signal) == ("vite", "package.json build script (vite build)")


def test_vite_with_preview_start_script_stays_static(make_repo: MakeRepo) -> None:
    files = {
        "vite.config.js": "export default {}\n",
        "package.json": pkg(scripts={"build": "vite build", "start": "vite preview"}),
    }
    assert run(make_repo(files)).preset == "vite"


def test_vite_with_a_server_start_script_is_a_node_app(make_repo: MakeRepo) -> None:
    files = {
        "vite.config.js": "export default {}\n",
        "package.json": pkg(scripts={"build": "vite build", "start": "node server.js"}),
    }
    found = run(make_repo(files))
    assert (found.preset, found.signal) == ("node", "package.json start script")


def test_package_json_start_script_selects_node(make_repo: MakeRepo) -> None:
    found = run(make_repo({"package.json": pkg(scripts={"start": "node app.js"})}))
    assert (found.preset, found.signal, found.start_command) == (
        "node",
        "package.json start script",
        "npm start",
    )


def test_package_json_main_is_started_without_start_script(make_repo: MakeRepo) -> None:
    files = {"package.json": pkg(main="lib/server.js"), "lib/server.js": ""}
    found = run(make_repo(files))
    assert (found.signal, found.start_command) == ("package.json main", "node lib/server.js")


def test_package_json_main_that_the_build_makes_is_accepted(make_repo: MakeRepo) -> None:
    files = {"package.json": pkg(main="dist/index.js", scripts={"build": "tsc"})}
    assert run(make_repo(files)).start_command == "node dist/index.js"


@pytest.mark.parametrize("entry", ["server.js", "index.js"])
def test_entry_file_is_started_without_start_script(make_repo: MakeRepo, entry: str) -> None:
    found = run(make_repo({"package.json": pkg(name="x"), entry: ""}))
    assert (found.preset, found.signal, found.start_command) == ("node", entry, f"node {entry}")


@pytest.mark.parametrize(
    ("lockfile", "manager", "start"),
    [
        ("package-lock.json", "npm", "npm start"),
        ("yarn.lock", "yarn", "yarn start"),
        ("pnpm-lock.yaml", "pnpm", "pnpm start"),
        ("bun.lockb", "bun", "bun run start"),
        ("bun.lock", "bun", "bun run start"),
    ],
)
def test_lockfile_picks_package_manager(
    make_repo: MakeRepo, lockfile: str, manager: str, start: str
) -> None:
    files = {"package.json": pkg(scripts={"start": "node a.js"}), lockfile: "x"}
    found = run(make_repo(files))
    assert (found.package_manager, found.start_command) == (manager, start)


def test_package_manager_field_beats_lockfile(make_repo: MakeRepo) -> None:
    files = {
        "package.json": pkg(packageManager="pnpm@9.1.0", scripts={"start": "node a.js"}),
        "package-lock.json": "{}",
    }
    assert run(make_repo(files)).package_manager == "pnpm"


def test_no_lockfile_defaults_to_npm_install(make_repo: MakeRepo) -> None:
    found = run(make_repo({"package.json": pkg(scripts={"start": "node a.js"})}))
    assert found.package_manager == "npm"
    assert "RUN npm install --no-audit --no-fund" in found.dockerfile


@pytest.mark.parametrize(
    ("manifest", "signal"),
    [
        ("requirements.txt", "requirements.txt"),
        ("Pipfile", "Pipfile"),
        ("setup.py", "setup.py"),
    ],
)
def test_python_dependency_files_select_python(
    make_repo: MakeRepo, manifest: str, signal: str
) -> None:
    found = run(make_repo({manifest: "flask\n", "app.py": FLASK}))
    assert (found.preset, found.signal, found.package_manager) == ("python", signal, "pip")


def test_pyproject_with_project_table_selects_python(make_repo: MakeRepo) -> None:
    files = {
        "pyproject.toml": '[project]\nname = "a"\ndependencies = ["fastapi"]\n',
        "main.py": FASTAPI,
    }
    found = run(make_repo(files))
    assert (found.preset, found.signal) == ("python", "pyproject.toml")


def test_tool_only_pyproject_does_not_make_a_python_app(make_repo: MakeRepo) -> None:
    files = {
        "pyproject.toml": "[tool.ruff]\nline-length = 100\n",
        "go.mod": "module a\n",
        "main.go": GO_MAIN,
    }
    assert run(make_repo(files)).preset == "go"


def test_fastapi_app_is_served_by_uvicorn_on_port(make_repo: MakeRepo) -> None:
    found = run(make_repo({"requirements.txt": "fastapi\nuvicorn\n", "main.py": FASTAPI}))
    assert found.start_command == "uvicorn main:app --host 0.0.0.0 --port ${PORT}"
    assert "pip install uvicorn" not in found.dockerfile


def test_missing_server_package_is_installed(make_repo: MakeRepo) -> None:
    found = run(make_repo({"requirements.txt": "flask\n", "app.py": FLASK}))
    assert found.start_command == "gunicorn --bind 0.0.0.0:${PORT} app:app"
    assert "pip install -r requirements.txt && pip install gunicorn" in found.dockerfile


def test_django_project_is_served_by_gunicorn(make_repo: MakeRepo) -> None:
    files = {
        "requirements.txt": "django\n",
        "manage.py": "",
        "site1/wsgi.py": "from django.core.wsgi import get_wsgi_application\n"
        "application = get_wsgi_application()\n",
    }
    found = run(make_repo(files))
    assert found.start_command == "gunicorn --bind 0.0.0.0:${PORT} site1.wsgi:application"


def test_procfile_web_line_wins_over_detected_app(make_repo: MakeRepo) -> None:
    files = {"requirements.txt": "flask\n", "app.py": FLASK, "Procfile": "web: python app.py\n"}
    assert run(make_repo(files)).start_command == "python app.py"


def test_python_with_no_entry_point_is_refused_with_advice(make_repo: MakeRepo) -> None:
    with pytest.raises(DetectionError, match="Procfile"):
        run(make_repo({"requirements.txt": "requests\n", "bot.py": "print(1)\n"}))


def test_stdlib_only_main_py_is_python_without_pip(make_repo: MakeRepo) -> None:
    main = "import os\nfrom http.server import HTTPServer\nimport helpers\n"
    found = run(make_repo({"main.py": main, "helpers.py": "import json\n"}))
    assert (found.preset, found.signal, found.start_command) == (
        "python",
        "main.py",
        "python3 main.py",
    )
    assert "pip" not in found.dockerfile
    assert found.package_manager is None


def test_lone_script_importing_third_party_modules_is_refused(make_repo: MakeRepo) -> None:
    with pytest.raises(DetectionError, match="imports requests"):
        run(make_repo({"app.py": "import requests\n"}))


def test_go_mod_selects_go(make_repo: MakeRepo) -> None:
    found = run(make_repo({"go.mod": "module example.com/a\n", "main.go": GO_MAIN}))
    assert (found.preset, found.signal, found.package_manager) == ("go", "go.mod", "go")


def test_go_module_with_several_commands_is_refused_with_candidates(make_repo: MakeRepo) -> None:
    files = {"go.mod": "module m\n", "cmd/a/main.go": GO_MAIN, "cmd/b/main.go": GO_MAIN}
    with pytest.raises(DetectionError, match="cmd/a, cmd/b"):
        run(make_repo(files))


def test_go_library_module_is_refused(make_repo: MakeRepo) -> None:
    with pytest.raises(DetectionError, match="no main package"):
        run(make_repo({"go.mod": "module m\n", "lib.go": "package lib\n"}))


def test_main_go_without_go_mod_selects_go(make_repo: MakeRepo) -> None:
    found = run(make_repo({"main.go": GO_MAIN}))
    assert (found.preset, found.signal) == ("go", "main.go")
    assert "go mod init app" in found.dockerfile


def test_cargo_toml_selects_rust(make_repo: MakeRepo) -> None:
    files = {"Cargo.toml": '[package]\nname = "svc"\nversion = "0.1.0"\n', "src/main.rs": ""}
    found = run(make_repo(files))
    assert (found.preset, found.signal, found.package_manager) == ("rust", "Cargo.toml", "cargo")
    assert "cp target/release/svc /out/app" in found.dockerfile


def test_rust_library_is_refused(make_repo: MakeRepo) -> None:
    files = {"Cargo.toml": '[package]\nname = "lib"\nversion = "0.1.0"\n', "src/lib.rs": ""}
    with pytest.raises(DetectionError, match="library"):
        run(make_repo(files))


def test_index_html_alone_is_a_static_site(make_repo: MakeRepo) -> None:
    found = run(make_repo({"index.html": "<h1>hi</h1>"}))
    assert (found.preset, found.kind, found.signal, found.static_output_dir) == (
        "static",
        "static",
        "index.html",
        ".",
    )
    assert found.port is None and found.start_command is None


@pytest.mark.parametrize(
    ("files", "preset"),
    [
        ({"Dockerfile": "FROM x\n", "next.config.js": "", "package.json": NEXT}, "dockerfile"),
        ({"next.config.js": "", "vite.config.js": "", "package.json": NEXT}, "nextjs"),
        (
            {"vite.config.js": "", "package.json": pkg(scripts={"start": "vite preview"})},
            "vite",
        ),
        (
            {"package.json": pkg(scripts={"start": "node a.js"}), "requirements.txt": "flask"},
            "node",
        ),
        ({"requirements.txt": "flask", "app.py": FLASK, "go.mod": "module m\n"}, "python"),
        (
            {"go.mod": "module m\n", "main.go": GO_MAIN, "Cargo.toml": "[package]\nname='a'\n"},
            "go",
        ),
        (
            {"Cargo.toml": "[package]\nname = 'a'\n", "src/main.rs": "", "index.html": ""},
            "rust",
        ),
        ({"go.mod": "module m\n", "main.go": GO_MAIN, "main.py": "import os\n"}, "go"),
        ({"main.py": "import os\n", "index.html": ""}, "python"),
    ],
)
def test_precedence_first_signal_in_order_wins(
    make_repo: MakeRepo, files: dict[str, str], preset: str
) -> None:
    assert run(make_repo(files)).preset == preset


def test_package_json_without_a_way_to_start_falls_through(make_repo: MakeRepo) -> None:
    files = {"package.json": pkg(devDependencies={"tailwindcss": "3"}), "index.html": ""}
    assert run(make_repo(files)).preset == "static"


def test_nothing_buildable_lists_what_was_looked_for(make_repo: MakeRepo) -> None:
    with pytest.raises(DetectionError) as info:
        run(make_repo({"README.md": "# hi\n"}))
    message = str(info.value)
    for signal in (
        "Dockerfile",
        "next.config",
        "vite.config",
        "package.json",
        "requirements.txt",
        "go.mod",
        "Cargo.toml",
        "index.html",
    ):
        assert signal in message
    assert info.value.looked_for


@pytest.mark.parametrize(
    ("marker", "stack"),
    [
        ("composer.json", "PHP"),
        ("Gemfile", "Ruby"),
        ("pom.xml", "Java"),
        ("mix.exs", "Elixir"),
        ("App.csproj", ".NET"),
    ],
)
def test_unsupported_stack_is_named_in_the_refusal(
    make_repo: MakeRepo, marker: str, stack: str
) -> None:
    with pytest.raises(DetectionError, match=f"{stack}.*add a Dockerfile"):
        run(make_repo({marker: "x"}))


def test_invalid_package_json_is_a_clear_error(make_repo: MakeRepo) -> None:
    with pytest.raises(DetectionError, match=r"package.json is not valid JSON \(line 1\)"):
        run(make_repo({"package.json": "{nope"}))


def test_package_json_that_is_not_an_object_is_a_clear_error(make_repo: MakeRepo) -> None:
    with pytest.raises(DetectionError, match="JSON object"):
        run(make_repo({"package.json": "[]"}))


def test_invalid_cargo_toml_is_a_clear_error(make_repo: MakeRepo) -> None:
    with pytest.raises(DetectionError, match=r"Cargo\.toml is not valid TOML"):
        run(make_repo({"Cargo.toml": "[package\n"}))
