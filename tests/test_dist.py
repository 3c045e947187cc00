"""The published artefacts work on their own: build, install with plain pip, run the chat.

The test builds every package's wheel and sdist (the command ``make dist``
runs, into a temporary directory), installs the wheels into a fresh
``python -m venv`` with plain pip (third-party dependencies come from PyPI, our
packages only from the built files), and then runs the tutorial site
(a copy of examples/chat, outside the repository) as ``daphne`` plus
``runworker`` from that venv on the IPC layer. Two users sign in over HTTP and
chat over real WebSockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

ROOT = Path(__file__).resolve().parent.parent
UV = ROOT / ".tools" / "bin" / "uv"
TIMEOUT = 90

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


def _distributions() -> dict[str, Path]:
    """Return {distribution name: project dir} for every workspace member."""
    found = {}
    for pyproject in [*ROOT.glob("packages/*/pyproject.toml"), ROOT / "conformance/pyproject.toml"]:
        name = tomllib.loads(pyproject.read_text())["project"]["name"]
        found[name] = pyproject.parent
    return found


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONHOME"}
        and not key.startswith("PIP_")
    }
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONUNBUFFERED="1", **extra)
    return env


def _run(
    args: list[Any], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> str:
    done = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=env or _clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build every wheel and sdist, as `make dist` does."""
    out = tmp_path_factory.mktemp("dist")
    _run([UV, "build", "--all-packages", "-o", out], cwd=ROOT, env=_clean_env())
    return out


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Install all built wheels into a fresh venv with plain pip."""
    home = tmp_path_factory.mktemp("venv")
    target = home / "venv"
    _run([sys.executable, "-m", "venv", target], cwd=home)
    wheels = sorted(dist.glob("*.whl"))
    # Our packages by file (so PyPI's unrelated 'channels'/'daphne' can never win);
    # their third-party dependencies from the package index.
    _run([target / "bin" / "python", "-m", "pip", "install", "-q", *wheels], cwd=home, timeout=1200)
    return target


def test_every_package_has_a_wheel_and_an_sdist_with_readme_and_changelog(dist: Path) -> None:
    for name, project in _distributions().items():
        wheels = list(dist.glob(f"{_normal(name)}-*.whl"))
        sdists = list(dist.glob(f"{_normal(name)}-*.tar.gz"))
        assert len(wheels) == 1, f"{name}: wheels {wheels}"
        assert len(sdists) == 1, f"{name}: sdists {sdists}"
        with tarfile.open(sdists[0]) as sdist:
            files = {Path(member).name for member in sdist.getnames()}
        assert {"README.md", "CHANGELOG.md", "pyproject.toml"} <= files, f"{name}: {files}"
        with zipfile.ZipFile(wheels[0]) as wheel:
            metadata = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
            text = wheel.read(metadata).decode()
            readme = (project / "README.md").read_text().strip()
            assert "Description-Content-Type: text/markdown" in text, name
            assert readme.splitlines()[0] in text, f"{name}: README is not the PyPI description"
            shipped_tests = [
                n for n in wheel.namelist() if "/test_" in n or n.endswith("/conftest.py")
            ]
            assert not shipped_tests, f"{name} ships its test suite: {shipped_tests}"


def test_installed_packages_come_from_the_venv_and_keep_modern_asgiref(venv: Path) -> None:
    code = (
        "import asgiref, asgiref.sync, asgiref.inmemory, asgiref.base_layer, channels, daphne, "
        "asgi_ipc, asgi_redis, asgi_rabbitmq, asgi_conformance, django, json; "
        "print(json.dumps({'asgiref': asgiref.__version__, 'django': django.__version__, "
        "'files': [m.__file__ for m in (asgiref.inmemory, channels, daphne, asgi_ipc)]}))"
    )
    info = json.loads(_run([venv / "bin" / "python", "-c", code], cwd=venv))
    assert info["asgiref"].startswith("3."), info
    assert info["django"].startswith("5.2"), info
    for path in info["files"]:
        assert Path(path).is_relative_to(venv), f"{path} is not from the fresh venv"


class Process:
    """A child process in its own session whose output is collected line by line."""

    def __init__(self, name: str, args: list[Any], cwd: Path, env: dict[str, str]) -> None:
        self.name = name
        self.popen = subprocess.Popen(
            [str(arg) for arg in args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str) -> re.Match[str]:
        compiled = re.compile(pattern)
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if found := compiled.search(line):
                return found
        raise AssertionError(f"{self.name}: no line matched {pattern!r}:\n" + "\n".join(self.lines))

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(20)
        self._pump_thread.join(20)
        if self.popen.stdout is not None:
            self.popen.stdout.close()


@contextlib.contextmanager
def chat_site(venv: Path, home: Path) -> Iterator[str]:
    """Run a copy of examples/chat as daphne + runworker from ``venv``; yield its URL."""
    site = home / "site"
    shutil.copytree(ROOT / "examples" / "chat", site, ignore=shutil.ignore_patterns("__pycache__"))
    prefix = f"dist{secrets.token_hex(4)}"
    env = _clean_env(
        DJANGO_SETTINGS_MODULE="chat_site.settings",
        CHAT_LAYER="ipc",
        CHAT_IPC_PREFIX=prefix,
        CHAT_STATE_DIR=str(home / "state"),
        CHAT_DEBUG="1",
    )
    python = venv / "bin" / "python"
    _run([python, "manage.py", "migrate", "--noinput"], cwd=site, env=env)
    processes = []
    try:
        daphne = Process(
            "daphne", [venv / "bin" / "daphne", "-b", "127.0.0.1", "-p", "0",
                       "chat_site.asgi:channel_layer"], site, env,
        )  # fmt: skip
        processes.append(daphne)
        worker = Process(
            "runworker", [python, "manage.py", "runworker", "--threads", "2"], site, env
        )
        processes.append(worker)
        port = daphne.wait_for(r"Listening on TCP address 127\.0\.0\.1:(\d+)").group(1)
        worker.wait_for(r"Listening on channels")
        yield f"127.0.0.1:{port}"
    finally:
        for process in processes:
            process.stop()
        subprocess.run(
            [python, "-m", "asgi_ipc", "remove", "--prefix", prefix],
            capture_output=True,
            timeout=60,
            env=env,
        )


def _sign_in(host: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=f"http://{host}", timeout=TIMEOUT)
    form = client.get("/login/")
    assert form.status_code == 200, form.text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token is not None, form.text
    response = client.post(
        "/login/",
        data={"username": username, "csrfmiddlewaretoken": token.group(1), "next": "/"},
        headers={"Referer": f"http://{host}/login/"},
    )
    assert response.status_code == 302, response.text
    return client


def test_tutorial_site_runs_from_the_installed_packages(
    venv: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with chat_site(venv, tmp_path_factory.mktemp("chat")) as host:
        alice, bob = _sign_in(host, "alice"), _sign_in(host, "bob")
        try:
            bridge = alice.get("/static/channels/js/websocketbridge.js")
            assert bridge.status_code == 200 and "WebSocketBridge" in bridge.text

            def headers(client: httpx.Client) -> dict[str, str]:
                return {
                    "Origin": f"http://{host}",
                    "Cookie": f"sessionid={client.cookies['sessionid']}",
                }

            async def chat() -> tuple[Any, Any]:
                url = f"ws://{host}/chat/lobby/"
                async with (
                    websockets.connect(url, additional_headers=headers(alice),
                                       open_timeout=TIMEOUT) as alice_ws,
                    websockets.connect(url, additional_headers=headers(bob),
                                       open_timeout=TIMEOUT) as bob_ws,
                ):  # fmt: skip
                    await alice_ws.send("hello from the wheels")
                    to_alice = await asyncio.wait_for(alice_ws.recv(), TIMEOUT)
                    to_bob = await asyncio.wait_for(bob_ws.recv(), TIMEOUT)
                    return json.loads(to_alice), json.loads(to_bob)

            to_alice, to_bob = asyncio.run(chat())
        finally:
            alice.close()
            bob.close()
    assert to_alice == to_bob
    assert to_bob["username"] == "alice"
    assert to_bob["message"] == "hello from the wheels"
    assert to_bob["room"] == "lobby"
