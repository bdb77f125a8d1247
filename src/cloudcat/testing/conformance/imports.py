"""The check that a driver imports its cloud SDK lazily, and says what to install when it is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

from ...driver import BaseDriver
from .calls import fail
from .fixtures import KitFixtures
from .requirements import requires

__all__ = ["ImportChecks"]

# Run in a fresh interpreter with the SDK modules blocked: import the driver module, then use it.
_PROBE = textwrap.dedent("""
    import importlib, json, sys
    spec = json.loads(sys.stdin.read())
    for name in spec["blocked"]:
        sys.modules[name] = None
    try:
        module = importlib.import_module(spec["module"])
    except ImportError as exc:
        print(json.dumps({"stage": "import", "error": type(exc).__name__, "message": str(exc)}))
        raise SystemExit(0)
    cls = getattr(module, spec["cls"])
    from cloudcat.errors import MissingDependencyError
    try:
        driver = cls(spec["options"], backend="kit")
        list(driver.regions())
        driver.check()
    except MissingDependencyError as exc:
        print(json.dumps({"stage": "use", "error": "MissingDependencyError",
                          "message": str(exc), "package": exc.package}))
    except Exception as exc:
        print(json.dumps({"stage": "use", "error": type(exc).__name__, "message": str(exc)}))
    else:
        print(json.dumps({"stage": "use", "error": None}))
""")


def probe_without(modules: list[str], driver_class: type[BaseDriver], options: dict[str, Any]) -> dict[str, Any]:
    """Import and use ``driver_class`` in a fresh interpreter where ``modules`` cannot be imported;
    return what happened (``stage``: ``import`` or ``use``; ``error``; ``message``)."""
    spec = {"blocked": modules, "module": driver_class.__module__, "cls": driver_class.__qualname__,
            "options": options}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run([sys.executable, "-c", _PROBE], input=json.dumps(spec, default=str),
                          capture_output=True, text=True, timeout=120, env=env, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        fail(f"the lazy-import probe failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    outcome: dict[str, Any] = json.loads(lines[-1])
    return outcome


class ImportChecks(KitFixtures):
    """``test_lazy_import``."""

    @requires("sdk_module")
    def test_lazy_import(self, driver_class: type[BaseDriver], driver_options: dict[str, Any]) -> None:
        """The driver module imports with its SDK missing; using it raises MissingDependencyError."""
        outcome = probe_without(list(self.sdk_modules), driver_class, driver_options)
        blocked = ", ".join(self.sdk_modules)
        if outcome["stage"] == "import":
            fail(f"eager import: module {driver_class.__module__} cannot be imported without "
                 f"{blocked} ({outcome['message']}); import the SDK on first use "
                 "(cloudcat.driver.import_sdk)")
        if outcome["error"] != "MissingDependencyError":
            fail(f"with {blocked} missing, using the driver raised {outcome['error']} "
                 f"({outcome.get('message')}); expected MissingDependencyError saying what to install")
        if "install" not in outcome["message"]:
            fail(f"MissingDependencyError does not say what to install: {outcome['message']!r}")
        if self.sdk_package and self.sdk_package not in outcome["message"]:
            fail(f"MissingDependencyError does not name the package {self.sdk_package!r}: "
                 f"{outcome['message']!r}")
