"""Build the throwaway virtualenvs that hold the peers the benchmarks compare against.

The original 1.x stack is installed from PyPI into ``bench/peers/legacy`` (never
vendored). Its layers call ``msgpack.unpackb(..., encoding="utf8")``, an argument
modern msgpack removed; ``legacy_shim.py`` (written into that venv's
site-packages as a ``.pth``-loaded module) maps it to ``raw=False``. That is the
one documented compatibility shim; nothing else of the originals is changed.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

__all__ = ["LEGACY_REQUIREMENTS", "ensure_legacy_venv", "ensure_venv"]

PEERS = Path(__file__).resolve().parent / "peers"
LEGACY_REQUIREMENTS = [
    "asgiref==1.1.2",
    "asgi_redis==1.4.3",
    "asgi_ipc==1.4.2",
    "daphne==1.4.2",
    "channels==1.1.8",
    "Django==2.2.28",
    "redis==2.10.6",
    "msgpack==1.0.8",
]

_SHIM = '''"""Let 1.x layers pass msgpack's removed encoding= argument (benchmark shim)."""
import msgpack

_unpackb = msgpack.unpackb
_packb = msgpack.packb


def _compat_unpackb(data, *args, encoding=None, **kwargs):
    if encoding is not None:
        kwargs.setdefault("raw", False)
    return _unpackb(data, *args, **kwargs)


def _compat_packb(obj, *args, encoding=None, **kwargs):
    return _packb(obj, *args, **kwargs)


msgpack.unpackb = _compat_unpackb
msgpack.packb = _compat_packb
msgpack.loads = _compat_unpackb
msgpack.dumps = _compat_packb
'''


def ensure_venv(name: str, requirements: list[str]) -> Path:
    """Create ``bench/peers/<name>`` with ``requirements`` once; return its python."""
    root = PEERS / name
    python = root / "bin" / "python"
    marker = root / "requirements.done"
    wanted = "\n".join(requirements)
    if marker.exists() and marker.read_text() == wanted:
        return python
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *requirements,
        ],
        check=True,
    )
    marker.write_text(wanted)
    return python


def ensure_legacy_venv() -> Path:
    """Return the python of a venv holding the original 1.x stack plus the msgpack shim."""
    python = ensure_venv("legacy", LEGACY_REQUIREMENTS)
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "legacy_msgpack_shim.py").write_text(_SHIM)
    Path(site, "legacy_msgpack_shim.pth").write_text("import legacy_msgpack_shim\n")
    return python


if __name__ == "__main__":
    print(ensure_legacy_venv(), file=sys.stdout)
