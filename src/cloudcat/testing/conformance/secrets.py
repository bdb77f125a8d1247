"""Checks that secrets in a driver's options stay secret: typed ``SecretStr``, absent from reprs,
log records and errors.

What counts as a secret is decided by :mod:`cloudcat.secrets` (the one home for that); the kit
adds the options a suite names in ``secret_options`` and names the option that holds each
secret, so a report says which option leaked without repeating its value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from ...driver import BaseDriver
from ...secrets import find_secrets
from ..mockserver import MockHandle
from .calls import exception_text, fail, run_bounded, touch_backend
from .fixtures import KitFixtures
from .requirements import requires

__all__ = ["SecretChecks", "find_option_secrets"]

_MIN_LENGTH = 3  # shorter values would be "found" in any text


def _text_options(value: object, path: str = "") -> Iterator[tuple[str, str]]:
    """(dotted path, text) of every text option at any depth; a ``SecretStr`` gives its value."""
    if isinstance(value, SecretStr):
        yield path, value.get_secret_value()
    elif isinstance(value, str):
        yield path, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _text_options(getattr(value, name), f"{path}.{name}" if path else name)
    elif isinstance(value, Mapping):
        for key, child in value.items():
            yield from _text_options(child, f"{path}.{key}" if path else str(key))
    elif isinstance(value, (list, tuple)):
        for n, child in enumerate(value):
            yield from _text_options(child, f"{path}.{n}" if path else str(n))


def find_option_secrets(options: BaseModel, raw_options: Mapping[str, Any],
                        secret_options: Collection[str] = ()) -> dict[str, str]:
    """Secret values among a driver's options, by the dotted option that holds them.

    Secrets are those :func:`cloudcat.secrets.find_secrets` finds in the parsed ``options`` and in
    the ``raw_options`` mapping (``SecretStr`` at any depth, text under secret-named keys, URL
    passwords), plus the text of options named in ``secret_options`` (a dotted path or a leaf
    name). Each is reported under the text option that holds it: the option equal to it, or the
    URL it is the password of. A number under a secret-like name (``token_ttl: 3600``) is a
    setting, not a secret, and values shorter than 3 characters or unexpanded ``${VAR}`` are left
    out: they would be "found" in any text.
    """
    texts = dict(_text_options(options)) | dict(_text_options(raw_options))
    named = {text for path, text in texts.items()
             if path in secret_options or path.rsplit(".", 1)[-1] in secret_options}
    secrets = {*find_secrets(options), *find_secrets(raw_options), *named}
    found = {path: text for path, text in texts.items() if text in secrets}
    for path, text in texts.items():
        for password in find_secrets(text):  # a plain text holds only URL passwords
            found.setdefault(path, password)
    return {path: value for path, value in found.items()
            if len(value) >= _MIN_LENGTH and not value.startswith("${")}


def _option_at(model: object, path: str) -> object:
    """The value at a dotted path of an options model (``None`` when absent)."""
    for part in path.split("."):
        model = model.get(part) if isinstance(model, Mapping) else getattr(model, part, None)
    return model


def _leaks(text: str, secrets: Mapping[str, str]) -> list[str]:
    """The options whose secret value appears in ``text``."""
    return sorted(name for name, value in secrets.items() if value in text)


class SecretChecks(KitFixtures):
    """``test_secret_options``, ``test_secrets_repr``, ``test_secrets_logs``, ``test_secrets_errors``."""

    @pytest.fixture
    def option_secrets(self, make_driver: Callable[..., BaseDriver],
                       driver_options: dict[str, Any]) -> dict[str, str]:
        """Secret values in the driver's options, by the option that holds them (see
        :func:`find_option_secrets`; :attr:`secret_options` adds names)."""
        return find_option_secrets(make_driver().options, driver_options, self.secret_options)

    @requires("secrets")
    def test_secret_options(self, make_driver: Callable[..., BaseDriver],
                            option_secrets: dict[str, str]) -> None:
        """Options that hold secrets are typed SecretStr."""
        drv = make_driver()

        def plain(name: str, secret: str) -> bool:
            value = _option_at(drv.options, name)
            # a text that only contains the secret (a URL with a password) is not itself the secret
            return not isinstance(value, SecretStr) and not (isinstance(value, str) and value != secret)

        found = [n for n, secret in option_secrets.items() if plain(n, secret)]
        if found:
            fail(f"option(s) {found} hold secrets but are not typed pydantic.SecretStr in "
                 f"{type(drv.options).__qualname__}")

    @requires("secrets")
    def test_secrets_repr(self, make_driver: Callable[..., BaseDriver],
                          option_secrets: dict[str, str]) -> None:
        """Secrets appear in no repr or str of the driver or its options."""
        drv = make_driver()
        for what, text in (("repr(driver)", repr(drv)), ("str(driver)", str(drv)),
                           ("repr(driver.options)", repr(drv.options)),
                           ("driver.options.model_dump_json()", drv.options.model_dump_json())):
            leaked = _leaks(text, option_secrets)
            if leaked:
                fail(f"leaked secret: the value of option(s) {leaked} appears in {what}")

    def _fault_scenarios(self, handle: MockHandle | None) -> list[tuple[str, dict[str, Any]]]:
        if handle is None:
            return []
        return [("fail_auth", {"fail_auth": True}), ("error_rate=1", {"error_rate": 1.0}),
                ("throttle_rate=1", {"throttle_rate": 1.0})]

    def _run_scenarios(self, handle: MockHandle | None, make_driver: Callable[..., BaseDriver],
                       ) -> Iterator[tuple[str, BaseException | None]]:
        """Run a healthy read, each fault scenario and a bad option; yield what each raised."""
        def attempt(what: str, call: Callable[[], object]) -> tuple[str, BaseException | None]:
            try:
                run_bounded(call, self.fault_deadline, what)
            except Exception as exc:
                return what, exc
            return what, None

        yield attempt("a healthy read", lambda: touch_backend(make_driver()))
        yield attempt("an unknown region", lambda: make_driver(regions=["no-such-region-kit"]).regions())
        for name, faults in self._fault_scenarios(handle):
            assert handle is not None
            handle.server.set_faults(**faults)
            yield attempt(name, lambda: touch_backend(make_driver()))
            yield attempt(f"{name}, check()", lambda: make_driver().check())
            handle.server.set_faults(fail_auth=False, error_rate=0.0, throttle_rate=0.0)

    @requires("secrets")
    def test_secrets_logs(self, make_driver: Callable[..., BaseDriver], option_secrets: dict[str, str],
                          fault_mock: MockHandle | None, caplog: pytest.LogCaptureFixture) -> None:
        """Secrets appear in no log record (DEBUG and up), healthy or failing."""
        with caplog.at_level(logging.DEBUG):
            for _ in self._run_scenarios(fault_mock, make_driver):
                pass
        for record in caplog.records:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                text += exception_text(record.exc_info[1])
            leaked = _leaks(text, option_secrets)
            if leaked:
                fail(f"leaked secret: the value of option(s) {leaked} appears in a log record of "
                     f"{record.name!r} at {record.levelname}")

    @requires("secrets")
    def test_secrets_errors(self, make_driver: Callable[..., BaseDriver], option_secrets: dict[str, str],
                            fault_mock: MockHandle | None) -> None:
        """Secrets appear in no error message (nor in the causes it chains)."""
        seen = 0
        for what, exc in self._run_scenarios(fault_mock, make_driver):
            if exc is None:
                continue
            seen += 1
            leaked = _leaks(exception_text(exc), option_secrets)
            if leaked:
                fail(f"leaked secret: the value of option(s) {leaked} appears in the "
                     f"{type(exc).__name__} raised under {what}")
        if seen == 0:
            fail("no scenario raised an error, so none could be checked for secrets")
