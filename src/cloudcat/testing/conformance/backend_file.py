"""The ``--cloudcat-backend FILE`` target: a real endpoint for the kit instead of the driver's mock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import ConfigError
from ...yamlfile import expand_env, load_yaml

__all__ = ["BACKEND_OPTION", "load_backend_file"]

#: The pytest command-line option that points the kit at a real endpoint.
BACKEND_OPTION = "--cloudcat-backend"


def load_backend_file(path: str | Path) -> dict[str, Any]:
    """Read a ``--cloudcat-backend`` file (YAML or JSON): ``{driver, options}``.

    ``${VAR}`` in the options is read from the environment, so secrets stay out of the file.
    Errors are :class:`~cloudcat.errors.ConfigError` naming the file, the line and the field.
    """
    source = str(path)
    doc = load_yaml(path, what="backend file")
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("driver"), str):
        raise ConfigError("expected a mapping with 'driver' (a name) and 'options'", source=source,
                          field="driver", line=doc.line("driver"))
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise ConfigError("'options' must be a mapping", source=source, field="options",
                          line=doc.line("options"))
    return {"driver": data["driver"],
            "options": expand_env(options, source=source, lines=doc.lines, path=("options",))}
