"""The bridge ships twice: a static file in the channels wheel and the npm package django-channels.

The npm check packs a copy of packages/channels/js (whose prepack step copies in
the static files) and loads the result from node_modules both with
``require()`` and ``import``, as a user's bundler or node would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
from bridge_harness import REPO_ROOT, find_node

PACKAGE_DIR = REPO_ROOT / "packages" / "channels"
STATIC_SOURCE = PACKAGE_DIR / "src" / "channels" / "static" / "channels" / "js"
SHIPPED = ["websocketbridge.js", "websocketbridge.mjs"]


def test_django_staticfiles_finds_the_bridge_under_the_documented_name() -> None:
    """With "channels" installed, the manual's {% static "channels/js/..." %} path is found."""
    from django.contrib.staticfiles import finders
    from django.template import engines

    for name in SHIPPED:
        found = finders.find(f"channels/js/{name}")
        assert found is not None, f"staticfiles cannot find channels/js/{name}"
        assert Path(found).read_bytes() == (STATIC_SOURCE / name).read_bytes()
    template = engines["django"].from_string(
        '{% load static %}<script src="{% static "channels/js/websocketbridge.js" %}"></script>'
    )
    assert template.render({}) == '<script src="/static/channels/js/websocketbridge.js"></script>'


def test_static_files_are_in_the_wheel(tmp_path: Path) -> None:
    """uv build puts channels/static/channels/js/websocketbridge.{js,mjs} into the wheel."""
    uv = REPO_ROOT / ".tools" / "bin" / "uv"
    if not uv.exists():
        pytest.skip("uv is not bootstrapped in .tools/ (run make install)")
    result = subprocess.run(
        [str(uv), "build", "--package", "channels", "--wheel", "-o", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "UV_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = tmp_path.glob("channels-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        for name in SHIPPED:
            member = f"channels/static/channels/js/{name}"
            assert archive.read(member) == (STATIC_SOURCE / name).read_bytes()


def test_npm_package_contains_the_static_files_and_loads_both_ways(tmp_path: Path) -> None:
    """npm pack gives django-channels with both files; require() and import both load it."""
    npm = shutil.which("npm")
    node = find_node()
    if npm is None or node is None:
        pytest.skip("npm/node are not installed; the npm package cannot be packed here")
    # Mirror the layout copy-static.mjs expects: <root>/js next to <root>/src/...
    shutil.copytree(PACKAGE_DIR / "js", tmp_path / "js", ignore=shutil.ignore_patterns("*.tgz"))
    shutil.copytree(STATIC_SOURCE, tmp_path / "src" / "channels" / "static" / "channels" / "js")
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run(
        [npm, "pack", "--json", "--offline", "--pack-destination", str(out)],
        cwd=tmp_path / "js",
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    packed = json.loads(result.stdout)[0]
    assert packed["name"] == "django-channels"
    assert sorted(f["path"] for f in packed["files"]) == sorted(
        ["README.md", "package.json", *SHIPPED]
    )
    # postpack removed the copies again.
    assert sorted(p.name for p in (tmp_path / "js").iterdir()) == [
        ".gitignore",
        "README.md",
        "copy-static.mjs",
        "package.json",
    ]

    installed = tmp_path / "app" / "node_modules" / "django-channels"
    installed.mkdir(parents=True)
    with tarfile.open(out / packed["filename"]) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    shutil.copytree(tmp_path / "unpacked" / "package", installed, dirs_exist_ok=True)
    for name in SHIPPED:
        assert (installed / name).read_bytes() == (STATIC_SOURCE / name).read_bytes()

    app = tmp_path / "app"
    (app / "use.cjs").write_text(
        "const { WebSocketBridge, ReconnectingWebSocket } = require('django-channels');\n"
        "console.log(typeof WebSocketBridge, typeof ReconnectingWebSocket);\n"
    )
    (app / "use.mjs").write_text(
        "import { WebSocketBridge, resolveWebSocketUrl } from 'django-channels';\n"
        "console.log(typeof WebSocketBridge, resolveWebSocketUrl('/ws/', 'https://h/'));\n"
    )
    for script, expected in [("use.cjs", "function function"), ("use.mjs", "function wss://h/ws/")]:
        ran = subprocess.run(
            [node, script], cwd=app, capture_output=True, text=True, timeout=60, check=False
        )
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.strip() == expected
