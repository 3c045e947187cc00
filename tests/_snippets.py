"""Extract the code samples of the documentation and execute them, one page at a time.

How this works
--------------
``blocks(page)`` reads a reST page and returns every ``.. code-block::`` and every
``.. literalinclude::`` in it, with its language, caption and first line.
``python tests/_snippets.py docs/<page>.rst`` (run in a subprocess by
``test_docs_snippets.py``, so each page gets a fresh interpreter and a fresh
Django) builds a scratch project in a temporary directory, a copy of
``examples/chat`` plus a settings module, sets Django up on it, migrates a SQLite
database, and then runs the page's blocks in order, printing one JSON result per
block:

- ``python`` with a ``:caption:`` naming a file (``myapp/consumers.py``): the
  file is written into the project and imported (or reloaded, when a later step
  of a tutorial rewrites it); a literalinclude is treated the same way, with the
  included file's path below ``examples/chat``;
- ``python`` without a caption: executed in a namespace shared by the page;
- every module or namespace that defines ``channel_routing`` gets it loaded by
  ``channels.routing.Router``, and every ``unittest.TestCase`` a page defines is
  run against the scratch database;
- ``pycon``: run as a doctest in the page namespace;
- ``console``: each ``$ command`` is parsed by the real program: ``daphne`` by
  Daphne's argument parser, ``manage.py`` commands by the Django command's
  parser, ``python -m module`` by ``--help`` and its listed options, ``pip
  install`` names must be packages of this repository (or a short list of known
  dependencies);
- ``ini`` (systemd and supervisord units): parsed, and their ``ExecStart=`` /
  ``command=`` lines checked like console commands;
- ``javascript``: ``node --check``;
- ``html+django``: rendered by Django's template engine;
- ``nginx``: balanced braces, ``;``-terminated directives, and the
  ``proxy_set_header`` names Daphne's ``--proxy-headers`` reads.

A block that fails records the exception; later blocks still run.
"""

from __future__ import annotations

import configparser
import contextlib
import importlib
import importlib.util
import io
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLE = ROOT / "examples" / "chat"

KNOWN_LANGUAGES = {"python", "pycon", "console", "ini", "javascript", "html+django", "nginx"}

# Distribution names of this repository, and the few third-party names the docs install.
OUR_DISTRIBUTIONS = {
    "channels",
    "daphne",
    "asgi-redis",
    "asgi-ipc",
    "asgi-rabbitmq",
    "asgiref-layers",
    "asgi-conformance",
}
THIRD_PARTY = {"hiredis", "django"}
# Programs the docs run that are not ours: the check is that the line parses.
SYSTEM_PROGRAMS = {
    "apt-get",
    "systemctl",
    "supervisorctl",
    "git",
    "cd",
    "export",
    "redis-server",
    "rabbitmq-server",
    "npm",
    "make",
    "openssl",
    "sudo",
}

_DIRECTIVE = re.compile(r"^(?P<indent> *)\.\. (?P<kind>code-block|literalinclude):: *(?P<arg>.*)$")
_OPTION = re.compile(r"^ *:(?P<name>[a-z-]+):(?P<value>.*)$")


@dataclass
class Block:
    """One code sample of a page."""

    page: str
    index: int
    line: int
    language: str
    caption: str
    source: str


def blocks(page: Path) -> list[Block]:
    """Return the code samples of ``page`` in document order."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i])
        if not match:
            i += 1
            continue
        start = i + 1
        indent = len(match["indent"])
        options: dict[str, str] = {}
        i += 1
        while i < len(lines) and _OPTION.match(lines[i]):
            option = _OPTION.match(lines[i])
            assert option is not None
            options[option["name"]] = option["value"].strip()
            i += 1
        body: list[str] = []
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > indent):
            body.append(lines[i])
            i += 1
        if match["kind"] == "literalinclude":
            path = (page.parent / match["arg"].strip()).resolve()
            language = options.get("language", "python")
            caption = str(path.relative_to(EXAMPLE)) if path.is_relative_to(EXAMPLE) else ""
            source = path.read_text(encoding="utf-8")
        else:
            language = match["arg"].strip()
            caption = options.get("caption", "")
            source = _dedent(body)
        found.append(Block(page.name, len(found), start, language, caption, source))
    return found


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _dedent(body: list[str]) -> str:
    text = list(body)
    while text and not text[0].strip():
        text.pop(0)
    while text and not text[-1].strip():
        text.pop()
    width = min((_indent(line) for line in text if line.strip()), default=0)
    return "\n".join(line[width:] for line in text) + "\n"


# --- the scratch project ---------------------------------------------------------------


def _settings_source(apps: list[str], state: Path, prefix: str) -> str:
    return f"""
SECRET_KEY = "docs-snippets"
DEBUG = True
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
INSTALLED_APPS = [
    "django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions",
    "django.contrib.staticfiles", "channels", "chat", *{apps!r},
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "chat_site.urls"
TEMPLATES = [{{"BACKEND": "django.template.backends.django.DjangoTemplates",
              "APP_DIRS": True, "OPTIONS": {{}}}}]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3",
                         "NAME": {str(state / "db.sqlite3")!r},
                         "TEST": {{"NAME": {str(state / "test.sqlite3")!r}}}}}}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
STATIC_URL = "/static/"
# A layer that spans processes, so that the live-server test case can run; the
# runner removes its shared memory afterwards.
CHANNEL_LAYERS = {{"default": {{"BACKEND": "asgi_ipc.IPCChannelLayer",
                              "CONFIG": {{"prefix": {prefix!r}}},
                              "TEST_CONFIG": {{"prefix": {prefix + "-test"!r}}},
                              "ROUTING": "chat_site.routing.channel_routing"}}}}
"""


class Page:
    """Run the blocks of one page in a scratch project."""

    def __init__(self, page: Path, workdir: Path, prefix: str) -> None:
        self.page = page
        self.blocks = blocks(page)
        self.project = workdir / "project"
        shutil.copytree(EXAMPLE, self.project, ignore=shutil.ignore_patterns("__pycache__"))
        apps = self._prepare_apps()
        if importlib.util.find_spec("channels.delay") is not None:
            apps.append("channels.delay")
        (self.project / "docs_settings.py").write_text(_settings_source(apps, workdir, prefix))
        os.environ["DJANGO_SETTINGS_MODULE"] = "docs_settings"
        os.environ["CHAT_STATE_DIR"] = str(workdir)
        sys.path.insert(0, str(self.project))
        os.chdir(self.project)
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", run_syncdb=True, verbosity=0)
        self.namespace: dict[str, Any] = {"__name__": "docs_page"}

    def _prepare_apps(self) -> list[str]:
        """Create the packages the captions name; models modules must exist before setup."""
        apps: list[str] = []
        for block in self.blocks:
            if block.language != "python" or not block.caption.endswith(".py"):
                continue
            package = Path(block.caption).parts[0]
            target = self.project / package
            if not target.exists():
                target.mkdir()
                (target / "__init__.py").write_text("")
            if package not in apps and package not in {"chat", "chat_site"}:
                apps.append(package)
            if block.caption.endswith("/models.py"):
                (self.project / block.caption).write_text(block.source)
        return apps

    def run(self) -> list[dict[str, Any]]:
        """Run every block in order and return one result dict per block."""
        results = []
        for block in self.blocks:
            try:
                getattr(self, "run_" + re.sub(r"\W", "_", block.language))(block)
            except Exception as exc:  # reported per block; later blocks still run
                error = "".join(traceback.format_exception(exc)).strip()
                results.append({**asdict(block), "ok": False, "error": error})
            else:
                results.append({**asdict(block), "ok": True, "error": ""})
        return results

    # --- per language ---

    def run_python(self, block: Block) -> None:
        if block.caption.endswith(".py"):
            module = self._write_module(block)
            self._check(vars(module))
        else:
            code = compile(block.source, f"{block.page}:{block.line}", "exec")
            exec(code, self.namespace)
            self._check(self.namespace)

    def _write_module(self, block: Block) -> Any:
        path = self.project / block.caption
        name = block.caption.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
        if name in sys.modules and path.read_text() == block.source:
            return sys.modules[name]
        path.write_text(block.source)
        importlib.invalidate_caches()
        if name in sys.modules:
            return importlib.reload(sys.modules[name])
        return importlib.import_module(name)

    def _check(self, namespace: dict[str, Any]) -> None:
        import unittest

        from channels.routing import Router

        if "channel_routing" in namespace:
            Router(namespace["channel_routing"])
        layers = namespace.get("CHANNEL_LAYERS")
        for alias, config in (layers or {}).items():
            _check_layer_config(alias, config)
        cases = [
            value
            for value in namespace.values()
            if isinstance(value, type)
            and issubclass(value, unittest.TestCase)
            and value.__module__ in {"docs_page", namespace.get("__name__")}
            and not getattr(value, "_docs_ran", False)
        ]
        for case in cases:
            case._docs_ran = True  # type: ignore[attr-defined]
            self._run_test_case(case)

    def _run_test_case(self, case: type) -> None:
        import io
        import unittest

        from django.test.utils import (
            setup_databases,
            setup_test_environment,
            teardown_databases,
            teardown_test_environment,
        )

        suite = unittest.defaultTestLoader.loadTestsFromTestCase(case)
        if not suite.countTestCases():
            return
        setup_test_environment()
        old = setup_databases(verbosity=0, interactive=False)
        try:
            stream = io.StringIO()
            result = unittest.TextTestRunner(stream=stream, verbosity=2).run(suite)
        finally:
            teardown_databases(old, verbosity=0)
            teardown_test_environment()
        # Skips are fine (a conformance check for an extension the layer lacks), but
        # something must have run.
        if not result.wasSuccessful() or len(result.skipped) == result.testsRun:
            raise AssertionError(f"{case.__name__} did not pass:\n{stream.getvalue()}")

    def run_pycon(self, block: Block) -> None:
        import doctest

        parser = doctest.DocTestParser()
        test = parser.get_doctest(block.source, self.namespace, block.page, block.page, block.line)
        output: list[str] = []
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        runner.run(test, out=output.append, clear_globs=False)
        if runner.failures:
            raise AssertionError("".join(output))

    def run_console(self, block: Block) -> None:
        for line in block.source.splitlines():
            if line.startswith("$ "):
                check_command(line[2:])
            elif line.strip() and not line.startswith((" ", "#")):
                # Output lines are allowed only after a command.
                continue

    def run_ini(self, block: Block) -> None:
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(block.source)
        commands = []
        for section in parser.sections():
            for key in ("ExecStart", "command"):
                if parser.has_option(section, key):
                    commands.append(parser.get(section, key))
        if not commands:
            raise AssertionError("a unit without ExecStart= or command=")
        for command in commands:
            words = shlex.split(command)
            words[0] = Path(words[0]).name
            check_command(shlex.join(words))

    def run_javascript(self, block: Block) -> None:
        script = self.project / f"snippet{block.index}.js"
        script.write_text(block.source)
        done = subprocess.run(
            ["node", "--check", str(script)], capture_output=True, text=True, timeout=60
        )
        if done.returncode:
            raise AssertionError(done.stderr)

    def run_html_django(self, block: Block) -> None:
        from django.template import engines

        html = engines["django"].from_string(block.source).render({})
        if "{%" in html or "{{" in html:
            raise AssertionError(f"template left tags unrendered: {html}")

    def run_nginx(self, block: Block) -> None:
        text = "\n".join(line.split("#", 1)[0] for line in block.source.splitlines())
        depth = 0
        parts = re.split(r"([{};])", text)
        for statement, delimiter in zip(parts[::2], [*parts[1::2], ""], strict=True):
            if statement.strip() and delimiter not in {"{", ";"}:
                raise AssertionError(f"directive without ';': {statement.strip()!r}")
            depth += {"{": 1, "}": -1}.get(delimiter, 0)
            if depth < 0:
                raise AssertionError("unbalanced '}'")
        if depth:
            raise AssertionError("unbalanced braces")
        headers = set(re.findall(r"proxy_set_header\s+(X-Forwarded-[\w-]+)", block.source))
        if not headers <= {"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Port"}:
            raise AssertionError(f"Daphne does not read {headers}")


def _check_layer_config(alias: str, config: Any) -> None:
    """Validate one CHANNEL_LAYERS entry: keys, importable BACKEND, CONFIG it accepts."""
    import inspect

    from channels.asgi import validate_layer_config
    from django.utils.module_loading import import_string

    config = validate_layer_config(alias, config)
    backend = import_string(config["BACKEND"])
    options = dict(config.get("CONFIG") or {})
    inspect.signature(backend).bind(**options)
    # Layers pass **kwargs up to their base class: collect what the whole chain accepts.
    accepted: set[str] = set()
    open_ended = True
    for klass in backend.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        parameters = inspect.signature(vars(klass)["__init__"]).parameters.values()
        accepted |= {p.name for p in parameters if p.kind is not p.VAR_KEYWORD}
        open_ended = open_ended and any(p.kind is p.VAR_KEYWORD for p in parameters)
    unknown = set(options) - accepted
    if unknown and not open_ended:
        raise AssertionError(f"{config['BACKEND']} does not take the options {sorted(unknown)}")


# --- commands --------------------------------------------------------------------------


def check_command(command: str) -> None:
    """Parse ``command`` with the program it runs; raise AssertionError if it would fail."""
    words = shlex.split(command)
    while words and re.match(r"^[A-Z_]+=", words[0]):
        words.pop(0)  # VAR=value prefixes
    if not words:
        raise AssertionError(f"empty command {command!r}")
    if words[0] == "sudo":
        words.pop(0)
    program, args = words[0], words[1:]
    if program in {"python", "python3"} and args[:1] == ["-m"]:
        _check_python_module(args[1], args[2:])
    elif program in {"python", "python3"} and args[:1] == ["manage.py"]:
        _check_manage(args[1:])
    elif program in {"manage.py", "./manage.py"}:
        _check_manage(args)
    elif program == "daphne":
        _parse(_daphne_parser(), args)
    elif program == "pip":
        _check_pip(args)
    elif program not in SYSTEM_PROGRAMS:
        raise AssertionError(f"the docs run an unknown program {program!r}: {command!r}")


def _parse(parser: Any, args: list[str]) -> None:
    try:
        parser.parse_args(args)
    except SystemExit as exc:
        raise AssertionError(f"{parser.prog} rejects {args!r}") from exc


def _daphne_parser() -> Any:
    from daphne.cli import build_parser

    return build_parser()


def _check_manage(args: list[str]) -> None:
    from django.core.management import get_commands, load_command_class

    name = args[0]
    if name == "help":
        if len(args) > 1:
            _check_manage(args[1:2])
        return
    commands = get_commands()
    if name not in commands:
        raise AssertionError(f"manage.py has no command {name!r}")
    command = load_command_class(commands[name], name)
    parser = command.create_parser("manage.py", name)
    try:
        parser.parse_args(args[1:])
    except Exception as exc:  # CommandError from Django's parser
        raise AssertionError(f"manage.py {name} rejects {args[1:]!r}: {exc}") from exc


def _check_python_module(module: str, args: list[str]) -> None:
    if module == "pip":
        _check_pip(args)
        return
    done = subprocess.run(
        [sys.executable, "-m", module, *_subcommand(args), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode:
        raise AssertionError(f"python -m {module} --help failed: {done.stderr}")
    for arg in args:
        if arg.startswith("--") and arg.split("=", 1)[0] not in done.stdout:
            raise AssertionError(f"python -m {module} has no option {arg}")


def _subcommand(args: list[str]) -> list[str]:
    """Return ``[word]`` when ``args`` start with a sub-command word (``remove``), else []."""
    if args and re.fullmatch(r"[a-z][a-z-]*", args[0]):
        return args[:1]
    return []


def _check_pip(args: list[str]) -> None:
    if not args or args[0] != "install":
        raise AssertionError(f"the docs only use 'pip install', not {args!r}")
    for arg in args[1:]:
        if arg.startswith("-"):
            continue
        name = re.split(r"[\[<>=!~ ]", arg, maxsplit=1)[0].lower().replace("_", "-")
        if name not in OUR_DISTRIBUTIONS | THIRD_PARTY:
            raise AssertionError(f"pip install {arg!r}: not a package of this project")


def main(argv: list[str]) -> int:
    page = Path(argv[1]).resolve()
    workdir = Path(tempfile.mkdtemp(prefix="docs-snippets-"))
    prefix = f"docs-{os.getpid()}-{secrets.token_hex(3)}"
    try:
        results = Page(page, workdir, prefix).run()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        from asgi_ipc.cli import main as ipc_main

        for name in (prefix, prefix + "-test"):
            with contextlib.redirect_stdout(io.StringIO()):
                ipc_main(["remove", "--prefix", name])
    print("@@RESULTS@@" + json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
