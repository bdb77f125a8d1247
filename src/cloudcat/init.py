"""A starting ``cloudcat.yaml`` from the clouds already in the user's ``clouds.yaml``.

``cloudcat init`` finds ``clouds.yaml`` where OpenStack clients look for it — ``$OS_CLIENT_CONFIG_FILE``,
``./clouds.yaml``, ``~/.config/openstack/clouds.yaml``, ``/etc/openstack/clouds.yaml``, the first
that exists — reads it as plain YAML (openstacksdk is not imported), and writes one ``openstack``
backend per cloud entry (``options: {cloud: <entry>}``, so credentials stay in ``clouds.yaml``) and
one brand selling from it. An existing file is never overwritten unless asked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from .errors import ConfigError
from .yamlfile import load_yaml

__all__ = ["clouds_yaml_places", "find_clouds_yaml", "read_cloud_names", "starter_config", "write_starter_config"]


_SYSTEM = Path("/etc/openstack")


def clouds_yaml_places(env: Mapping[str, str] | None = None, cwd: Path | None = None,
                       home: Path | None = None, system: Path = _SYSTEM) -> list[Path]:
    """Where ``clouds.yaml`` is looked for, in order (as openstacksdk does)."""
    env = os.environ if env is None else env
    places = [Path(env["OS_CLIENT_CONFIG_FILE"])] if env.get("OS_CLIENT_CONFIG_FILE") else []
    places += [(cwd or Path.cwd()) / "clouds.yaml",
               (home or Path.home()) / ".config" / "openstack" / "clouds.yaml",
               system / "clouds.yaml"]
    return places


def find_clouds_yaml(env: Mapping[str, str] | None = None, cwd: Path | None = None,
                     home: Path | None = None, system: Path = _SYSTEM) -> Path:
    """The first ``clouds.yaml`` that exists; a :class:`ConfigError` listing the places otherwise."""
    places = clouds_yaml_places(env, cwd, home, system)
    for place in places:
        if place.is_file():
            return place
    raise ConfigError("no clouds.yaml found (looked in " + ", ".join(map(str, places)) + ")")


def read_cloud_names(path: str | Path) -> list[str]:
    """The cloud entries of a ``clouds.yaml``, in file order; errors name the file and the line."""
    doc = load_yaml(path, what="clouds.yaml")
    clouds = doc.data.get("clouds") if isinstance(doc.data, dict) else None
    if not isinstance(clouds, dict) or not clouds:
        raise ConfigError("no cloud entries (expected a mapping under 'clouds:')", source=str(path),
                          line=doc.line("clouds") or 1, field="clouds")
    return [str(name) for name in clouds]


def _key(cloud: str) -> str:
    """A backend or brand name for ``cloud``: letters, digits, ``-`` and ``_`` only."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", cloud).strip("-") or "cloud"


def starter_config(clouds: Sequence[str], *, source: str | None = None, clouds_file: str | None = None) -> str:
    """The text of a starting configuration: one ``openstack`` backend and one brand per cloud
    (reading ``clouds_file`` when given, else the ``clouds.yaml`` OpenStack clients find)."""
    backends: dict[str, object] = {}
    brands: dict[str, object] = {}
    for cloud in clouds:
        name = _key(cloud)
        while name in backends:
            name += "-2"
        options = {"cloud": cloud, **({"clouds_file": clouds_file} if clouds_file else {})}
        backends[name] = {"driver": "openstack", "options": options}
        brands[name] = {"display_name": cloud, "backend": name}
    head = ("# Written by `cloudcat init`" + (f" from {source}" if source else "") + ".\n"
            "# Credentials stay in clouds.yaml; each brand sells from one cloud. Name the operator of\n"
            "# each brand, add price books, then run `cloudcat refresh`.\n")
    body = yaml.safe_dump({"backends": backends, "brands": brands, "price_books": []},
                          sort_keys=False, allow_unicode=True, default_flow_style=False)
    return head + body


def write_starter_config(target: str | Path = "cloudcat.yaml", *, force: bool = False,
                         clouds_yaml: str | Path | None = None) -> tuple[Path, list[str]]:
    """Write a starting configuration to ``target`` from ``clouds_yaml`` (default: the one
    :func:`find_clouds_yaml` finds). Returns the file written and the clouds it holds.

    An existing ``target`` is a :class:`ConfigError` unless ``force``.
    """
    out = Path(target)
    if out.exists() and not force:
        raise ConfigError("already exists (give --force to overwrite it)", source=str(out))
    source = Path(clouds_yaml) if clouds_yaml is not None else find_clouds_yaml()
    clouds = read_cloud_names(source)
    # a file named here is one OpenStack clients would not find by themselves: the backends name it
    text = starter_config(clouds, source=str(source),
                          clouds_file=str(source.resolve()) if clouds_yaml is not None else None)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write: {exc.strerror or exc}", source=str(out)) from None
    return out, clouds
