"""The overlay wheel must add modules to upstream asgiref without touching its files."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
UV = ROOT / ".tools" / "bin" / "uv"
# Every file name upstream asgiref ships now or shipped in earlier releases.
UPSTREAM_HISTORICAL = {
    "__init__.py",
    "py.typed",
    "wsgi.py",
    "testing.py",
    "sync.py",
    "local.py",
    "server.py",
    "timeout.py",
    "typing.py",
    "compatibility.py",
    "current_thread_executor.py",
}
EXPECTED = {
    "base_layer.py",
    "inmemory.py",
    "layer_statistics.py",
    "conformance.py",
    "split_layer.py",
    "prefetch.py",
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not UV.exists():
        pytest.fail(f"{UV} is missing; run `make install` first.")
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [str(UV), "build", "--package", "asgiref-layers", "--wheel", "-o", str(out), "-q"],
        cwd=ROOT,
        check=True,
    )
    (built,) = out.glob("asgiref_layers-*.whl")
    return built


def test_wheel_ships_only_new_modules(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    package_files = {n.split("/", 1)[1] for n in names if n.startswith("asgiref/")}
    assert package_files == EXPECTED
    upstream_now = {
        Path(str(f)).name
        for f in importlib.metadata.files("asgiref") or []
        if str(f).startswith("asgiref/")
    }
    assert not package_files & (UPSTREAM_HISTORICAL | upstream_now)


def test_wheel_metadata_depends_on_modern_asgiref(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (meta,) = [n for n in archive.namelist() if n.endswith("METADATA")]
        text = archive.read(meta).decode()
    assert "Name: asgiref-layers" in text
    assert "Requires-Dist: asgiref<4,>=3.8.1" in text


def test_fresh_venv_imports_overlay_beside_upstream(wheel: Path, tmp_path: Path) -> None:
    venv_dir = tmp_path / "venv"
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    subprocess.run(
        [str(UV), "venv", "-q", "--python", sys.executable, str(venv_dir)], check=True, env=env
    )
    python = venv_dir / "bin" / "python"
    subprocess.run(
        [str(UV), "pip", "install", "-q", "--python", str(python), str(wheel), "django>=5.2,<6"],
        check=True,
        env=env,
    )
    code = (
        "import asgiref, asgiref.sync, asgiref.inmemory, asgiref.base_layer, django;"
        "assert asgiref.__version__.startswith('3.'), asgiref.__version__;"
        "layer = asgiref.inmemory.ChannelLayer(); layer.send('a', {'k': 1});"
        "assert layer.receive(['a']) == ('a', {'k': 1});"
        "from django.conf import settings;"
        "settings.configure(INSTALLED_APPS=['django.contrib.contenttypes']); django.setup();"
        "from asgiref.sync import async_to_sync; print('ok')"
    )
    result = subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True)
    assert result.stdout.strip() == "ok"
    # Uninstalling the overlay must leave upstream's package intact.
    subprocess.run(
        [str(UV), "pip", "uninstall", "-q", "--python", str(python), "asgiref-layers"],
        check=True,
        env=env,
    )
    subprocess.run([str(python), "-c", "import asgiref.sync"], check=True)
    shutil.rmtree(venv_dir)
