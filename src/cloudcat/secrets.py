"""What is a secret, and how to keep it out of text: the one place that decides.

A secret is

* the value of a :class:`pydantic.SecretStr` (or ``SecretBytes``), at any depth in models, mappings
  and sequences;
* a plain string under a key named like a secret (:data:`SECRET_NAME`: password,
  secret, token, credential, api key, access key, private key…), at any depth;
* the password written in a URL, ``scheme://user:password@host``.

:func:`find_secrets` collects them from options or configuration; :func:`redact` removes known
secrets and URL passwords from any text (messages, log records, tracebacks); :func:`mask_secrets`
gives a copy of a mapping safe to show in a repr. The logging side (a filter for handlers and the
process-wide registry of secrets) is :mod:`cloudcat.redaction`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from pathlib import PurePath
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr

__all__ = [
    "MASK",
    "SECRET_NAME",
    "find_secrets",
    "is_secret_name",
    "mask_secrets",
    "mask_url",
    "redact",
]

#: Key names whose values are secrets: searched anywhere in the name, any case (``password``,
#: ``OS_PASSWORD``, ``client_secret``, ``apiKey``, ``api-token``…), except where the name ends in a
#: word saying the value is about the secret, not the secret itself (``application_credential_id``,
#: ``token_url``, ``password_file``, ``token_ttl``).
SECRET_NAME: re.Pattern[str] = re.compile(
    r"""(?: pass(?:word|wd|phrase)? | secret | token | credential
          | api[_-]?key | access[_-]?key | private[_-]?key )
        (?! \w*? (?:id|name|url|uri|endpoint|file|path|type|ttl|timeout|expiry|expires|lifetime)s?$ )""",
    re.IGNORECASE | re.VERBOSE)

#: What a secret in a text becomes.
MASK = "***"

#: What the value of a secret-named key becomes in :func:`mask_secrets` (the width of pydantic's SecretStr repr).
_MASKED_VALUE = "**********"

# The password of ``scheme://user:password@host``. The password runs to the last ``@`` before the
# path, as URL parsers read it, so a password holding ``@`` or ``:`` is masked whole.
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/@:\s]*):(?P<password>[^/\s]+)@")

_PATH_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*:/+)(?P<user>[^/@:\s]*):(?P<password>[^/\s]+)@")

_MIN_LENGTH = 3  # shorter values ("", "a", "no") would mask half of every text


def is_secret_name(key: str) -> bool:
    """Whether a key or option named ``key`` holds a secret (``password``, ``api_token``, ``accessKey``…)."""
    return SECRET_NAME.search(key) is not None


def mask_url(url: str) -> str:
    """``url`` (or any text) with every password written as ``scheme://user:password@`` replaced by ``***``."""
    return _URL_USERINFO.sub(rf"\g<scheme>\g<user>:{MASK}@", url)


def _url_passwords(text: str) -> list[str]:
    return [m.group("password") for m in _URL_USERINFO.finditer(text)]


def _revealed(value: object) -> str | None:
    """The secret inside a pydantic secret type, else ``None``."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, SecretBytes):
        return value.get_secret_value().decode("utf-8", "replace")
    return None


def _children(value: object) -> Iterable[tuple[str | None, object]]:
    """(key, child) pairs of a model, mapping or sequence; the key is ``None`` for sequence items."""
    if isinstance(value, BaseModel):
        fields = [(name, getattr(value, name, None)) for name in type(value).model_fields]
        return fields + list((value.model_extra or {}).items())
    if isinstance(value, Mapping):
        return [(k if isinstance(k, str) else None, v) for k, v in value.items()]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [(None, v) for v in value]
    return []


def find_secrets(value: object) -> list[str]:
    """Every secret value in ``value`` (options, a configuration, a model), in order, without repeats.

    Finds ``SecretStr`` values at any depth of models, mappings and sequences; plain strings under
    secret-named keys (see :data:`SECRET_NAME`), also when the key holds a list of them; and
    passwords written in URLs anywhere.
    """
    found: dict[str, None] = {}  # ordered set
    seen: set[int] = set()

    def walk(node: object, named: bool) -> None:
        secret = _revealed(node)
        if secret is not None:
            found[secret] = None
        elif isinstance(node, str):
            if named:
                found[node] = None
            found.update(dict.fromkeys(_url_passwords(node)))
        elif id(node) not in seen:
            seen.add(id(node))
            for key, child in _children(node):
                # a sequence under a secret-named key is a list of secrets
                walk(child, is_secret_name(key) if key is not None else named)

    walk(value, False)
    return [s for s in found if s]


@functools.lru_cache(maxsize=64)
def _pattern(secrets: tuple[str, ...]) -> re.Pattern[str]:
    # longest first: where two secrets start at one place, the whole longer one is masked
    return re.compile("|".join(re.escape(s) for s in sorted(secrets, key=len, reverse=True)))


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret of 3 characters or more, and any password written in a URL
    (``scheme://user:password@host``), replaced by ``***``.

    Masking repeats until no secret is left, even one that a mask and its neighbours happen to
    spell out again. (A "secret" made only of ``*`` cannot be told from the mask and is ignored.)
    """
    wanted = tuple(sorted({s for s in secrets if s and len(s) >= _MIN_LENGTH and s.strip("*")}))
    pattern = _pattern(wanted) if wanted else None
    while True:
        # each pass that changes the text turns characters into '*' (or a lone '*' into '***'), so this ends
        cleaned = mask_url(pattern.sub(MASK, text) if pattern else text)
        if cleaned == text:
            return text
        text = cleaned


class _Shown(str):
    """Text that a repr shows as it is (a nested model's repr, already masked)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


def mask_secrets(value: Any) -> Any:
    """A copy of ``value`` fit for a repr: values of secret-named keys become ``**********`` and
    URL passwords ``***``, at any depth of mappings and lists (empty values stay as they are); a
    pydantic model becomes its own repr with its secrets (:func:`find_secrets`) masked."""
    if isinstance(value, BaseModel):
        return _Shown(_mask_paths(redact(repr(value), find_secrets(value))))
    if isinstance(value, Mapping):
        return {k: _MASKED_VALUE if isinstance(k, str) and is_secret_name(k) and v not in (None, "")
                else mask_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v) for v in value]
    if isinstance(value, tuple):
        return tuple(mask_secrets(v) for v in value)
    if isinstance(value, str):
        return mask_url(value)
    if isinstance(value, PurePath):  # a URL taken for a path: its "//" became "/"
        text = str(value)
        masked = _mask_paths(text)
        return value if masked == text else type(value)(masked)
    return value


def _mask_paths(text: str) -> str:
    """``text`` with the password of a URL that became a path (``https:/user:pw@host``) masked."""
    return _PATH_USERINFO.sub(rf"\g<scheme>\g<user>:{MASK}@", text)
