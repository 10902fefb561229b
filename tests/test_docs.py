"""The documentation keeps up with the code.

What the code reads, exports, accepts or reports is listed in the reference:
every setting (with its default), every public name, every method of the
documented classes, every ``runasgi`` option, every check id and every close
code. Each test reads the reStructuredText sources, so it runs without Sphinx.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import re
from argparse import ArgumentParser
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

from django.conf import settings
from django.test import override_settings

from django_asgi_ws.broadcast import loading
from django_asgi_ws.broadcast.backends import MEMORY
from django_asgi_ws.broadcast.backends.memory import MemoryBackend
from django_asgi_ws.conf import Settings, conf
from django_asgi_ws.management.commands.runasgi import Command
from django_asgi_ws.status import CloseCode

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PACKAGE = ROOT / "django_asgi_ws"

# The modules users import from. Each names its API in __all__, except those
# listed here with their public names.
PUBLIC_MODULES = [
    "django_asgi_ws",
    "django_asgi_ws.asgi",
    "django_asgi_ws.auth",
    "django_asgi_ws.broadcast",
    "django_asgi_ws.decorators",
    "django_asgi_ws.lifespan",
    "django_asgi_ws.routing",
    "django_asgi_ws.servers.daphne",
    "django_asgi_ws.servers.uvicorn",
    "django_asgi_ws.shortcuts",
    "django_asgi_ws.status",
    "django_asgi_ws.test",
    "django_asgi_ws.tickets",
    "django_asgi_ws.views",
]
# Read as settings.SETTINGS_MODULE, but the name of the settings module, not a setting.
NOT_SETTINGS = {"SETTINGS_MODULE"}


def read(page: str) -> str:
    return (DOCS / page).read_text(encoding="utf-8")


def package_sources() -> dict[Path, str]:
    return {path: path.read_text(encoding="utf-8") for path in sorted(PACKAGE.rglob("*.py"))}


def sections(text: str) -> dict[str, str]:
    """Each section's title (without its ``backquotes``) and the text up to the next title."""
    lines = text.splitlines()
    titles = [
        index
        for index in range(len(lines) - 1)
        if lines[index].strip()
        and re.fullmatch(r"([=\-~^\"'`#*+.])\1*", lines[index + 1])
        and len(lines[index + 1]) >= len(lines[index])
    ]
    found = {}
    for start, end in zip(titles, [*titles[1:], len(lines) + 1], strict=True):
        title = lines[start].strip().strip("`")
        found[title] = "\n".join(lines[start + 2 : end - 1])
    return found


def definitions(text: str) -> dict[str, str]:
    """The terms of the definition lists at the left margin, each with its indented body.

    A term is a line that starts with ``backquotes`` and is followed by an
    indented line.
    """
    found: dict[str, str] = {}
    term = None
    lines = text.splitlines()
    for line, following in zip(lines, [*lines[1:], ""], strict=True):
        if line.startswith("``") and following.startswith(" "):
            term = line
            found[term] = ""
        elif term is not None and (line.startswith(" ") or not line.strip()):
            found[term] += line + "\n"
        else:
            term = None
    return found


def documented_default(body: str) -> Any:
    match = re.search(r"Default:\s+``(.+?)``", body, re.DOTALL)
    assert match, "no 'Default: ``...``'"
    return ast.literal_eval(match[1].replace("\n", " "))


# Settings ---------------------------------------------------------------------


def settings_of_the_package() -> list[str]:
    """The settings ``conf`` reads, one property each."""
    return [name for name in vars(Settings) if name.isupper()]


def settings_named_in_the_source() -> set[str]:
    """Every ``settings.X``, ``getattr(settings, "X"`` and ``_read("X")`` in the package."""
    names: set[str] = set()
    for source in package_sources().values():
        names.update(re.findall(r"\bsettings\.([A-Z][A-Z0-9_]*)\b", source))
        names.update(re.findall(r"\b_read\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']", source))
        names.update(re.findall(r"getattr\(\s*settings,\s*[\"']([A-Z][A-Z0-9_]*)[\"']", source))
    return names - NOT_SETTINGS


def default_of(name: str) -> Any:
    """What ``conf`` gives for the setting *name* when the project does not set it."""
    with override_settings():
        delattr(settings, name)
        return getattr(conf, name)


def test_the_package_reads_its_settings_through_conf_and_the_scan_sees_them() -> None:
    assert set(settings_of_the_package()) <= settings_named_in_the_source()


def test_every_setting_of_the_package_has_a_section_with_its_default() -> None:
    documented = sections(read("settings.rst"))
    missing = [name for name in settings_of_the_package() if name not in documented]
    assert missing == []
    wrong = {
        name: (documented_default(documented[name]), default_of(name))
        for name in settings_of_the_package()
        if documented_default(documented[name]) != default_of(name)
    }
    assert wrong == {}, "documented default, actual default"


def test_every_setting_section_is_a_setting_the_package_reads() -> None:
    titles = {title for title in sections(read("settings.rst")) if re.fullmatch(r"[A-Z_]+", title)}
    assert titles - set(settings_of_the_package()) == set()


def django_settings_listed() -> set[str]:
    table = sections(read("settings.rst"))["Django settings that apply"]
    return set(re.findall(r"``([A-Z][A-Z0-9_]*)``", table))


def test_every_django_setting_the_package_reads_is_in_the_settings_page() -> None:
    django_settings = settings_named_in_the_source() - set(settings_of_the_package())
    assert django_settings
    assert django_settings - django_settings_listed() == set()


def broadcast_keys_documented() -> dict[str, str]:
    body = sections(read("settings.rst"))["WEBSOCKET_BROADCAST"]
    return {
        term.strip("`"): text
        for term, text in definitions(body).items()
        if re.fullmatch(r"``[A-Z_]+``", term)
    }


def test_every_broadcast_key_is_documented_and_nothing_else() -> None:
    assert set(broadcast_keys_documented()) == set(loading.KEYS)


def test_every_broadcast_key_has_its_default() -> None:
    backend = MemoryBackend.from_config({})
    defaults = {
        "BACKEND": MEMORY,
        "LOCATION": backend.location,
        "OPTIONS": backend.options,
        "QUEUE_SIZE": backend.queue_size,
        "OVERFLOW": backend.overflow,
        "PREFIX": backend.prefix,
        "TIMEOUT": backend.timeout,
        "HISTORY": backend.history.patterns,
        "PRESENCE_TIMEOUT": backend.presence_timeout,
    }
    assert set(defaults) == set(loading.KEYS)
    documented = {
        key: documented_default(body) for key, body in broadcast_keys_documented().items()
    }
    assert documented == defaults


# The public API -----------------------------------------------------------------


def reference_pages() -> list[str]:
    """The pages of the Reference toctree of index.rst."""
    index = read("index.rst")
    block = re.search(r":caption: Reference\n((?:\n|   .*\n)*)", index)
    assert block
    return [line.strip() for line in block[1].splitlines() if line.strip() and ":" not in line]


DIRECTIVE = re.compile(r"^(?P<indent> *)\.\. (?:py:)?(?P<kind>[a-z]+)::\s*(?P<target>\S[^(\n]*)")
CLASS_KINDS = {"class", "exception", "autoclass", "autoexception"}
MODULE_KINDS = {"module", "currentmodule", "automodule"}
OBJECT_KINDS = {"function", "method", "attribute", "property", "data", "decorator", *CLASS_KINDS}


class Documented:
    """The objects the reference pages describe, by full dotted name.

    For each class, ``members_option`` holds its ``:members:`` option (None
    when absent, "" for all members with a docstring), and ``member_directives``
    the members with a directive of their own, nested under the class or
    naming it (``.. automethod:: WebSocket.accept``).
    """

    def __init__(self, pages: list[str]) -> None:
        self.names: set[str] = set()
        self.members_option: dict[str, str | None] = {}
        self.member_directives: dict[str, set[str]] = {}
        for page in pages:
            self._read(read(f"{page}.rst"))

    def _read(self, text: str) -> None:
        module = ""
        classes: list[tuple[int, str]] = []  # (indent, full name) of enclosing classes
        lines = text.splitlines()
        for number, line in enumerate(lines):
            match = DIRECTIVE.match(line)
            if match is None:
                continue
            indent, kind, target = len(match["indent"]), match["kind"], match["target"].strip()
            if kind in MODULE_KINDS:
                module, classes = target, []
                continue
            if kind.removeprefix("auto") not in OBJECT_KINDS:
                continue
            while classes and classes[-1][0] >= indent:
                classes.pop()
            if target.startswith("django_asgi_ws."):
                name = target
            elif classes:
                name = f"{classes[-1][1]}.{target}"
            else:
                name = f"{module}.{target}"
            self.names.add(name)
            owner, _, member = name.rpartition(".")
            self.member_directives.setdefault(owner, set()).add(member)
            if kind in CLASS_KINDS:
                classes.append((indent, name))
                self.members_option.setdefault(name, None)
                for option in lines[number + 1 :]:
                    found = re.match(r"^\s+:members:(.*)$", option)
                    if found:
                        self.members_option[name] = found[1].strip()
                    elif not re.match(r"^\s+:", option):
                        break

    def objects(self) -> list[Any]:
        """The objects documented that exist at run time (not annotations alone)."""
        found = []
        for name in self.names:
            with contextlib.suppress(AttributeError):
                found.append(resolve(name))
        return found


def resolve(dotted: str) -> Any:
    """The object at *dotted*, importing the longest module prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            obj = getattr(obj, part)
        return obj
    raise ImportError(dotted)


def public_names(module: ModuleType) -> list[str]:
    names = module.__all__
    return [name for name in names if not name.startswith("__")]


def test_every_public_module_names_its_api() -> None:
    for name in PUBLIC_MODULES:
        module = importlib.import_module(name)
        assert hasattr(module, "__all__"), name


def test_every_public_name_is_in_the_reference() -> None:
    documented = Documented(reference_pages())
    objects = documented.objects()
    missing = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in public_names(module):
            obj = getattr(module, name)
            if f"{module_name}.{name}" not in documented.names and not any(
                obj is other for other in objects
            ):
                missing.append(f"{module_name}.{name}")
    assert missing == []


def public_members(cls: type) -> list[str]:
    """The methods and properties *cls* defines, whose names do not start with ``_``."""
    kinds = (staticmethod, classmethod, property, cached_property)
    return [
        name
        for name, value in vars(cls).items()
        if not name.startswith("_") and (inspect.isfunction(value) or isinstance(value, kinds))
    ]


def test_every_public_method_of_a_documented_class_is_documented() -> None:
    """A class whose members the reference shows shows them all.

    A member is shown by a directive of its own, or by ``:members:`` on its class
    when it has a docstring (autodoc skips members without one). A class shown
    with no member at all (``WebSocketApplication``) is an opaque type.
    """
    documented = Documented(reference_pages())
    missing = []
    for name, option in documented.members_option.items():
        cls = resolve(name)
        explicit = documented.member_directives.get(name, set())
        if option is None and not explicit:
            continue
        listed = {member.strip() for member in (option or "").split(",") if member.strip()}
        for member in public_members(cls):
            if member in explicit or member in listed:
                continue
            if option == "" and inspect.getdoc(getattr(cls, member)):
                continue
            missing.append(f"{name}.{member}")
    assert missing == []


# runasgi ----------------------------------------------------------------------


def runasgi_options() -> set[str]:
    """What ``runasgi`` adds to Django's common options: positionals by name, options by flag."""
    parser = ArgumentParser()
    Command().add_arguments(parser)
    names = set()
    for action in parser._actions:
        if action.option_strings:
            names.update(flag for flag in action.option_strings if flag not in ("-h", "--help"))
        else:
            names.add(action.dest)
    return names


def runasgi_options_documented() -> set[str]:
    body = sections(read("runasgi.rst"))["Options"]
    names = set()
    for term in definitions(body):
        names.update(re.findall(r"``(-{0,2}[A-Za-z0-9][\w-]*)", term))
    return names


def test_every_runasgi_option_is_documented() -> None:
    assert runasgi_options() - runasgi_options_documented() == set()


def test_every_documented_runasgi_option_exists() -> None:
    assert runasgi_options_documented() - runasgi_options() == set()


def environment_variables_read() -> set[str]:
    """Environment variables the package reads by name: ``os.environ.get("X")``,
    ``os.environ["X"]``, ``os.getenv("X")``.

    The reloader's variables are named by constants, not literals: it sets them
    itself for the server process it starts.
    """
    names = set()
    for source in package_sources().values():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in (
                "os.environ.get",
                "os.getenv",
            ):
                argument = node.args[0] if node.args else None
            elif (
                isinstance(node, ast.Subscript)
                and isinstance(node.ctx, ast.Load)  # not a variable the package sets
                and ast.unparse(node.value) == "os.environ"
            ):
                argument = node.slice
            else:
                continue
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                names.add(argument.value)
    return names


def test_every_environment_variable_read_is_documented() -> None:
    page = read("runasgi.rst")
    assert environment_variables_read()
    assert {name for name in environment_variables_read() if f"``{name}``" not in page} == set()


# Checks and close codes -----------------------------------------------------------


def check_ids_in_the_source() -> set[str]:
    source = "".join(package_sources().values())
    return set(re.findall(r'id="(django_asgi_ws\.[EW]\d{3})"', source))


def check_ids_documented() -> set[str]:
    return set(re.findall(r"^\s+\* - ``(django_asgi_ws\.[EW]\d{3})``$", read("checks.rst"), re.M))


def test_every_check_id_is_documented() -> None:
    assert check_ids_in_the_source()
    assert check_ids_in_the_source() - check_ids_documented() == set()


def test_every_documented_check_id_is_reported_by_a_check() -> None:
    assert check_ids_documented() - check_ids_in_the_source() == set()


def test_the_close_code_table_lists_every_member_of_close_code() -> None:
    table = sections(read("close-codes.rst"))["Named codes"]
    rows = re.findall(r"^\s+\* - (\d+)\n\s+- ``([A-Z_]+)``$", table, re.M)
    assert {(int(code), name) for code, name in rows} == {
        (member.value, member.name) for member in CloseCode
    }
