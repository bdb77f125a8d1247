"""Create a new driver package from the templates shipped in ``cloudcat/templates/plugin``.

``cloudcat plugin new acme`` (or :func:`new_plugin`) writes ``cloudcat-acme/``: a src-layout
package with a ``pyproject.toml`` (hatchling, the ``cloudcat.drivers`` entry point and, with a
mock, the ``cloudcat.mocks`` one), a driver that works against its mock out of the box, the mock
and its fixture catalog, a test module wired to the conformance kit, and a README.

Templates use ``{{var}}`` for values and ``{{#mock}}…{{/mock}}`` / ``{{^mock}}…{{/mock}}`` for
parts written only with / without a shipped mock; a tag alone on its line takes the line with it.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from . import __version__
from .errors import ConfigError
from .registry import KNOWN_DRIVERS

__all__ = ["PluginNames", "new_plugin", "plugin_names", "render"]

_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
_SECTION = re.compile(r"\{\{([#^])(\w+)\}\}(.*?)\{\{/\2\}\}", re.DOTALL)
_STANDALONE = re.compile(r"^(\{\{[#^/]\w+\}\})\n", re.MULTILINE)
_VALUE = re.compile(r"\{\{(\w+)\}\}")

#: (template, output path, written when: None = always, True = with a shipped mock, False = without)
_FILES: list[tuple[str, str, bool | None]] = [
    ("pyproject.toml.tmpl", "pyproject.toml", None),
    ("README.md.tmpl", "README.md", None),
    ("package/__init__.py.tmpl", "src/{package}/__init__.py", None),
    ("package/driver.py.tmpl", "src/{package}/driver.py", None),
    ("package/py.typed", "src/{package}/py.typed", None),
    ("mock.py.tmpl", "src/{package}/mock.py", True),
    ("catalog.json", "src/{package}/fixtures/catalog.json", True),
    ("mock.py.tmpl", "tests/mock_platform.py", False),
    ("catalog.json", "tests/fixtures/catalog.json", False),
    ("tests/test_conformance.py.tmpl", "tests/test_{slug}_conformance.py", None),
]


@dataclass(frozen=True)
class PluginNames:
    """The names derived from a driver name (``acme``, ``my-cloud``)."""

    name: str       # entry-point name: my-cloud
    dist: str       # distribution: cloudcat-my-cloud
    package: str    # import package: cloudcat_my_cloud
    Class: str      # class prefix: MyCloud (named like the template variable)
    title: str      # prose: My Cloud
    env: str        # environment variable prefix: MY_CLOUD


def _next_minor(version: str) -> str:
    """The first version a plugin written today does not claim to support (``0.2.1`` → ``0.3``)."""
    major, minor, *_ = (int(part) for part in [*version.split(".")[:2], "0"])
    return f"{major}.{minor + 1}"


def plugin_names(name: str) -> PluginNames:
    """Validate a driver name and derive the package, distribution and class names."""
    if not _NAME.match(name):
        raise ConfigError(f"invalid driver name {name!r}: use lowercase letters and digits, words "
                          "separated by '-' or '_', starting with a letter (e.g. 'acme', 'my-cloud')",
                          field="name")
    if name in KNOWN_DRIVERS:
        raise ConfigError(f"driver name {name!r} belongs to cloudcat's own {KNOWN_DRIVERS[name]!r}; "
                          "choose another", field="name")
    words = re.split(r"[-_]", name)
    if keyword.iskeyword(name):
        raise ConfigError(f"driver name {name!r} is a Python keyword", field="name")
    return PluginNames(name=name, dist="cloudcat-" + "-".join(words), package="cloudcat_" + "_".join(words),
                       Class="".join(w.capitalize() for w in words),
                       title=" ".join(w.capitalize() for w in words), env="_".join(words).upper())


def render(text: str, values: dict[str, str], flags: dict[str, bool]) -> str:
    """Fill a template: sections by ``flags``, then ``{{var}}`` by ``values``."""
    text = _STANDALONE.sub(r"\1", text)

    def section(match: re.Match[str]) -> str:
        kind, flag, body = match.groups()
        if flag not in flags:
            raise KeyError(f"template section {{{{{kind}{flag}}}}} names no known flag")
        return body if flags[flag] == (kind == "#") else ""

    text = _SECTION.sub(section, text)

    def value(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return _VALUE.sub(value, text)


def new_plugin(name: str, dest: str | Path = ".", *, with_mock: bool = True) -> Path:
    """Write a new driver package ``cloudcat-<name>/`` under ``dest``; return its path.

    Refuses to write into an existing, non-empty folder.
    """
    names = plugin_names(name)
    root = Path(dest) / names.dist
    if root.exists() and any(root.iterdir()):
        raise ConfigError(f"{root} already exists and is not empty; choose another --dest", field="dest")
    values = {"name": names.name, "dist": names.dist, "package": names.package, "Class": names.Class,
              "title": names.title, "env": names.env,
              "slug": names.package.removeprefix("cloudcat_"), "cloudcat_version": __version__,
              "cloudcat_next_minor": _next_minor(__version__)}
    flags = {"mock": with_mock}
    templates = resources.files("cloudcat").joinpath("templates", "plugin")
    for template, target, when in _FILES:
        if when is not None and when != with_mock:
            continue
        source = templates.joinpath(*template.split("/"))
        text = source.read_text(encoding="utf-8")
        out = root / target.format(package=names.package, slug=names.package.removeprefix("cloudcat_"))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render(text, values, flags) if template.endswith(".tmpl") else text, encoding="utf-8")
    return root
