"""Fault plans for mocked platforms: which requests fail, how, and how many times.

A :class:`FaultRule` names requests (a method and a path pattern) and what they get instead of
the platform's answer: an HTTP status (with ``Retry-After`` on 429 and 503 when asked), a
connection reset, a hang, the answer sent a byte at a time (a trickle), or a cut body. A
:class:`FaultPlan` holds the rules of one mock and hands out, for each request, the rule that
fires (the first matching one with shots left).

Rules are written in Python (``FaultRule(method="GET", path="/flavors/detail", status=429,
times=2, retry_after=1)``) or as one line of text, the form ``cloudcat mock serve --fault`` and
the control endpoint accept::

    [METHOD] PATH ACTION [xN | always] [key=value ...]

    GET /compute/v2.1/flavors/detail 429 x2 retry-after=1
    POST /v3/auth/tokens reset
    /api/query hang x1 hang-s=5
    POST /sdk trickle always trickle-ms=200
    * re:/flavors/[0-9]+$ 503 always message='down for maintenance'

``METHOD`` (``GET``, ``POST``… or ``*``) is optional: every method when left out. ``PATH`` is a glob (``*``, ``?``,
``[…]``) matched against the whole request path or its end at a ``/``, so
``/compute/v2.1/flavors/detail`` (or ``flavors/detail``) hits it in every region
(``/fr1/compute/v2.1/flavors/detail``); ``re:`` starts a regular
expression searched in the path instead. ``ACTION`` is an HTTP status (400 to 599), ``reset``,
``hang``, ``trickle`` or ``malformed``. ``xN`` fires the rule N times (default once), ``always`` until the
plan is cleared. Options are the fields of :class:`FaultRule` with dashes: ``retry-after=1``,
``retry-after-date=true``, ``skip=1``, ``hang-s=5``, ``trickle-ms=200``, ``message=…``.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = ["FaultAction", "FaultPlan", "FaultRule", "parse_rule", "retry_after_header", "validation_message"]

FaultAction = Literal["status", "reset", "hang", "trickle", "malformed"]
_ACTIONS: frozenset[str] = frozenset({"reset", "hang", "trickle", "malformed"})
_METHODS = frozenset({"*", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
_COUNT = re.compile(r"x(\d+)")


class FaultRule(BaseModel):
    """Requests to fail, and how. Also accepts one line of the text form (see the module)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str = Field(default="*", description="HTTP method, or '*' for every method.")
    path: str = Field(default="*", description="Glob matched against the path or its end at a '/', "
                                               "or 're:' and a regular expression searched in the path.")
    action: FaultAction = Field(default="status", description="Answer 'status', reset the connection, "
                                                              "hang, send the platform's answer a byte at a "
                                                              "time (trickle), or cut it in half.")
    status: int = Field(default=503, ge=400, le=599, description="Status of a 'status' fault.")
    times: int | None = Field(default=1, ge=1, description="How many requests it fails; None: until cleared.")
    skip: int = Field(default=0, ge=0, description="Matching requests let through before it fires.")
    retry_after: int | None = Field(default=None, ge=0, description="Retry-After seconds sent with the fault.")
    retry_after_date: bool = Field(default=False, description="Send Retry-After as an HTTP date.")
    hang_s: float = Field(default=30.0, gt=0, le=600, description="Longest a 'hang' holds a request "
                                                                  "(it ends sooner when the client gives up).")
    trickle_ms: float = Field(default=100.0, gt=0, le=10_000, description="Pause before each byte of a 'trickle' "
                                                                          "answer (it stops when the client goes).")
    message: str | None = Field(default=None, description="Message of a 'status' fault's error document.")

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        return _parse_fields(data) if isinstance(data, str) else data

    @model_validator(mode="after")
    def _check_pattern(self) -> FaultRule:
        if self.path.startswith("re:"):
            try:
                re.compile(self.path[3:])
            except re.error as exc:
                raise ValueError(f"bad regular expression {self.path[3:]!r}: {exc}") from None
        return self

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule names a request."""
        if self.method != "*" and self.method.upper() != method.upper():
            return False
        if self.path.startswith("re:"):
            return re.search(self.path[3:], path) is not None
        path = path.rstrip("/") or "/"
        pattern = self.path.rstrip("/") or "/"
        return fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(path, "*/" + pattern.lstrip("/"))

    def label(self) -> str:
        """How the request record names this fault: ``429``, ``reset``, ``hang``, ``trickle``, ``malformed``."""
        return str(self.status) if self.action == "status" else self.action

    def text(self) -> str:
        """The rule in the text form (parses back to an equal rule)."""
        parts = [self.method, shlex.quote(self.path), self.label(),
                 "always" if self.times is None else f"x{self.times}"]
        defaults = FaultRule()
        for name in ("skip", "retry_after", "retry_after_date", "hang_s", "trickle_ms", "message"):
            value = getattr(self, name)
            if value != getattr(defaults, name):
                shown = str(value).lower() if isinstance(value, bool) else str(value)
                parts.append(f"{name.replace('_', '-')}={shlex.quote(shown)}")
        return " ".join(parts)


def parse_rule(rule: str | Mapping[str, Any] | FaultRule) -> FaultRule:
    """A rule from its text form (or its fields); a one-line :class:`ValueError` says what is wrong."""
    if isinstance(rule, FaultRule):
        return rule
    try:
        return FaultRule.model_validate(rule)
    except ValidationError as exc:
        problems = validation_message(exc)
        raise ValueError(problems if str(rule) in problems else f"fault rule {rule!r}: {problems}") from None


def validation_message(exc: ValidationError) -> str:
    """A pydantic error on one line: ``field: problem; …``."""
    return "; ".join(_problem(err) for err in exc.errors())


def _problem(err: Any) -> str:
    where = ".".join(str(p) for p in err["loc"])
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _parse_fields(text: str) -> dict[str, Any]:
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"fault rule {text!r}: {exc}") from None
    fields: dict[str, Any] = {}
    if words and words[0].upper() in _METHODS:
        fields["method"] = words.pop(0).upper()
    if len(words) < 2:
        raise ValueError(f"fault rule {text!r}: expected [METHOD] PATH ACTION [xN|always] [key=value ...]")
    fields["path"] = words.pop(0)
    action = words.pop(0).lower()
    if action in _ACTIONS:
        fields["action"] = action
    elif action.isdigit():
        fields["status"] = int(action)
    else:
        raise ValueError(f"fault rule {text!r}: the action is a status (400-599), reset, hang, trickle or malformed, "
                         f"not {action!r}")
    for word in words:
        count = _COUNT.fullmatch(word)
        if count:
            fields["times"] = int(count[1])
        elif word == "always":
            fields["times"] = None
        elif "=" in word:
            key, _, value = word.partition("=")
            fields[key.strip().replace("-", "_")] = value
        else:
            raise ValueError(f"fault rule {text!r}: unexpected {word!r} (xN, always or key=value)")
    return fields


def retry_after_header(seconds: int, *, as_date: bool = False, now: float | None = None) -> str:
    """A ``Retry-After`` value: whole seconds (HTTP's delay-seconds), or the HTTP date that many
    seconds from ``now``."""
    if as_date:
        return formatdate((time.time() if now is None else now) + seconds, usegmt=True)
    return str(int(seconds))


@dataclass
class _Entry:
    rule: FaultRule
    seen: int = 0
    fired: int = 0

    def left(self) -> int | None:
        return None if self.rule.times is None else self.rule.times - self.fired


class FaultPlan:
    """The rules of one mock, in the order they were added; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[_Entry] = []

    def add(self, rule: FaultRule) -> FaultRule:
        """Append a rule (rules added earlier are tried first)."""
        with self._lock:
            self._entries.append(_Entry(rule))
        return rule

    def clear(self) -> None:
        """Drop every rule."""
        with self._lock:
            self._entries = []

    def take(self, method: str, path: str) -> FaultRule | None:
        """The rule that fires on this request, if any (its count goes down by one)."""
        with self._lock:
            for entry in self._entries:
                left = entry.left()
                if (left is not None and left <= 0) or not entry.rule.matches(method, path):
                    continue
                entry.seen += 1
                if entry.seen <= entry.rule.skip:
                    continue
                entry.fired += 1
                return entry.rule
        return None

    def pending(self) -> bool:
        """Whether some rule can still fire."""
        with self._lock:
            return any(e.left() is None or (e.left() or 0) > 0 for e in self._entries)

    def describe(self) -> list[dict[str, Any]]:
        """The rules as JSON-ready mappings, with ``text``, ``fired`` and ``left`` (``None``: no limit)."""
        with self._lock:
            return [{**e.rule.model_dump(), "text": e.rule.text(), "fired": e.fired, "left": e.left()}
                    for e in self._entries]
