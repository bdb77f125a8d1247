"""The configuration file: backends, brands, price books, store.

::

    backends:
      fe:
        driver: openstack
        options: {cloud: flexible-engine}
    brands:
      flexible-engine:
        display_name: Flexible Engine
        operator: Orange Business
        backend: fe
    price_books: [prices/fe.csv]
    store: ~/.cache/cloudcat/catalog.db

The file is found as ``--config``, else ``$CLOUDCAT_CONFIG``, else ``./cloudcat.yaml``.
``${VAR}`` in any value is replaced by the environment variable (an unset one is an error naming
it), so secrets stay out of files. Relative paths in price books, ``store`` and the driver options
``path``, ``paths``, ``file``, ``files`` and ``fixture`` are taken relative to the file.

Every error names the file, the line and the field; unknown keys get a "did you mean".
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from .errors import ConfigError
from .models import NUL_MESSAGE, BrandData, Lifecycle, OperatorPeriod, nul_path
from .secrets import find_secrets, mask_secrets
from .yamlfile import Lines, YamlPath, dotted, expand_env, line_of, load_yaml

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "MEMORY_STORE",
    "BackendConfig",
    "BrandConfig",
    "Config",
    "LogicalOfferConfig",
    "PriceBookRef",
    "find_config",
    "load_config",
    "mask_secrets",
    "secret_values",
    "store_location_problem",
]

DEFAULT_CONFIG_NAME = "cloudcat.yaml"
_PATH_OPTIONS = {"path", "paths", "file", "files", "fixture"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
#: The store location that keeps snapshots in memory, in a configuration as in code.
MEMORY_STORE = ":memory:"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: A duration as the file may write it (``90``, ``30m``), for the JSON Schema.
_DURATION_SCHEMA = {"type": "string", "pattern": _DURATION.pattern}


def _accept_durations(schema: dict[str, Any], names: tuple[str, ...]) -> None:
    """Let the schema of each duration field in ``names`` take ``30m`` as well as a number."""
    props = schema.get("properties", {})
    for name in names:
        prop = props.get(name)
        if prop is None:
            continue
        shown = {k: prop.pop(k) for k in ("title", "description", "default") if k in prop}
        props[name] = {**shown, "anyOf": [*prop.get("anyOf", [prop]), _DURATION_SCHEMA]}


def _backend_schema(schema: dict[str, Any]) -> None:
    _accept_durations(schema, ("deadline",))


def _config_schema(schema: dict[str, Any]) -> None:
    # the schema takes what the file takes: `30m` durations, price books as bare paths; editors
    # read the dialect from "$schema"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    _accept_durations(schema, ("max_age", "backend_deadline", "refresh_deadline"))
    books = schema.get("properties", {}).get("price_books")
    if books is not None:
        books["items"] = {"anyOf": [{"type": "string", "description": "Path of a price book file."},
                                    books["items"]]}


def secret_values(value: Any) -> list[str]:
    """The secret values in ``value``, for redaction: the same as :func:`cloudcat.secrets.find_secrets`."""
    return find_secrets(value)


class BackendConfig(_Strict):
    """One backend: which driver reads it, with the driver's own options."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_backend_schema)

    driver: str = Field(description="Registered driver name (see `cloudcat drivers`).")
    options: dict[str, Any] = Field(default_factory=dict, description="The driver's options.")
    enabled: bool = Field(default=True, description="Skip this backend in refreshes when false.")
    deadline: float | None = Field(
        default=None, gt=0, allow_inf_nan=False,
        description="Seconds reading this backend may take in a refresh, every call together (`90`, `5m`); "
                    "default: the top-level `backend_deadline`.")

    @field_validator("deadline", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return _seconds(value)

    def __repr_args__(self) -> Any:
        # options hold passwords and tokens: never show them
        for name, value in super().__repr_args__():
            yield name, mask_secrets(value) if name == "options" else value


def _logical_offer_schema(schema: dict[str, Any]) -> None:
    # In the file a logical offer is flat: its id, its name and the filters of the offer query.
    from .filters import filters_schema

    props = schema.setdefault("properties", {})
    props.pop("filters", None)
    props.update(filters_schema()["properties"])
    props["regions"] = {**props["region"], "description": "Same as `region` (older spelling)."}
    schema["additionalProperties"] = False


class LogicalOfferConfig(_Strict):
    """A stable offer a brand defines by requirements, resolved on whichever backend it uses.

    Besides ``id`` and ``name`` it takes the filters of an offer query (see
    :class:`cloudcat.filters.OfferFilters`): ``{id: gp-4-16, min_vcpus: 4, min_memory_mib: 16384,
    country: FR, labels: [secnumcloud]}``. ``kind`` defaults to ``compute``.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_logical_offer_schema)

    id: str = Field(description="Stable id under the brand, e.g. `gp-4-16`.")
    name: str | None = Field(default=None, description="Display name of the logical offer.")
    filters: dict[str, Any] = Field(default_factory=dict, description="The query's filters, validated.")

    @model_validator(mode="before")
    @classmethod
    def _gather_filters(cls, data: Any) -> Any:
        from .filters import validate_filters

        if not isinstance(data, Mapping) or "filters" in data:
            return data
        own = {k: v for k, v in data.items() if k in ("id", "name")}
        raw = {("region" if k == "regions" else k): v for k, v in data.items() if k not in own}
        raw.setdefault("kind", "compute")
        try:
            own["filters"] = validate_filters(raw)
        except ConfigError as exc:
            raise ValueError(exc.detail) from None
        return own

    def describe(self) -> str:
        """The requirements in words (``min_vcpus 4, country FR``)."""
        parts = [f"{name} {', '.join(map(str, v)) if isinstance(v, list) else v}"
                 for name, v in self.filters.items() if name != "kind"]
        return ", ".join(parts) or "no requirement"


class BrandConfig(BrandData):
    """A brand: what customers see, who operates it, where it sells from."""

    backend: str | None = Field(default=None, description="The one backend the brand sells from.")
    backends: list[str] | None = Field(default=None, description="Several backends.")
    offers: list[LogicalOfferConfig] = Field(default_factory=list, description="Logical offers.")

    @model_validator(mode="after")
    def _unique_offer_ids(self) -> BrandConfig:
        ids = [o.id for o in self.offers]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"logical offer id(s) {', '.join(twice)} defined more than once")
        return self

    @model_validator(mode="after")
    def _one_backend_field(self) -> BrandConfig:
        if self.backend and self.backends:
            raise ValueError("give either 'backend' or 'backends', not both")
        if not self.backend and not self.backends:
            raise ValueError("a brand needs 'backend' (one backend's name) or 'backends' (several)")
        return self

    @property
    def backend_names(self) -> list[str]:
        """The backends this brand sells from."""
        return [self.backend] if self.backend else list(self.backends or [])


class PriceBookRef(_Strict):
    """A price book file, and the backend its rows apply to when they name none."""

    path: Path
    backend: str | None = None


class RetentionConfig(_Strict):
    """Which snapshots a refresh keeps (``cloudcat snapshots prune`` applies the same rules by
    hand); the latest is always kept. Left out: every snapshot is kept."""

    keep_last: int = Field(default=0, ge=0, description="The newest N snapshots.")
    keep_daily: int = Field(default=0, ge=0, description="The last snapshot of each of the newest D days.")
    keep_monthly: int = Field(default=0, ge=0, description="The last snapshot of each of the newest M months.")


class Config(_Strict):
    """The whole configuration."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_config_schema)

    backends: dict[str, BackendConfig] = Field(default_factory=dict, description="Backends by name.")
    brands: dict[str, BrandConfig] = Field(default_factory=dict,
                                           description="Brands by name; the name begins offer ids.")
    price_books: list[PriceBookRef] = Field(default_factory=list,
                                            description="Price book files (paths, or {path, backend}).")
    store: str | None = Field(default=None, description="SQLite file path or database URL.")
    max_age: float = Field(default=3600.0, ge=0, allow_inf_nan=False,
                           description="Seconds before `offers` refreshes a snapshot (`30m`, `2h`, `1d`).")
    concurrency: int = Field(default=32, ge=1, le=256, description="Parallel backend calls in a refresh.")
    backend_deadline: float = Field(
        default=600.0, gt=0, allow_inf_nan=False,
        description="Seconds reading one backend may take in a refresh, every call together (`90`, `5m`); a "
                    "backend still reading then fails and keeps its previous items. A backend's own `deadline` "
                    "overrides it.")
    refresh_deadline: float = Field(
        default=1800.0, gt=0, allow_inf_nan=False,
        description="Seconds a whole refresh may take (`30m`); backends still reading then fail and keep their "
                    "previous items.")
    retention: RetentionConfig | None = Field(
        default=None, description="Snapshots pruned after each refresh (keep_last, keep_daily, keep_monthly).")
    source: str | None = Field(default=None, exclude=True, description="File the config came from.")
    _lines: Lines = PrivateAttr(default_factory=dict)

    @field_validator("price_books", mode="before")
    @classmethod
    def _price_book_paths(cls, value: object) -> object:
        if isinstance(value, list):
            return [{"path": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("max_age", "backend_deadline", "refresh_deadline", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return _seconds(value)

    @field_validator("store")
    @classmethod
    def _store_location(cls, value: str | None) -> str | None:
        problem = store_location_problem(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value

    def __repr_args__(self) -> Any:
        # a server store's URL, a price book path written as a URL, may carry a password
        for name, value in super().__repr_args__():
            yield name, mask_secrets(value)

    def error(self, message: str, *path: str | int) -> ConfigError:
        """A :class:`ConfigError` at ``path`` in the configuration file."""
        return ConfigError(message, source=self.source, line=line_of(self._lines, tuple(path)),
                           field=dotted(path))

    def deadline_of(self, backend: str) -> float:
        """Seconds ``backend`` may take in a refresh: its own ``deadline``, else ``backend_deadline``."""
        own = self.backends[backend].deadline
        return own if own is not None else self.backend_deadline

    def fingerprint(self) -> str:
        """Hash of what shapes offers (brands and price book contents), to know whether a snapshot's
        offers were composed under this configuration.

        The date is not part of it: offers are composed as of the day their items were read, so a
        day passing never makes a stored snapshot stale (a refresh does)."""
        h = hashlib.sha256()
        h.update(json.dumps(self.model_dump(mode="json", include={"brands"}), sort_keys=True).encode())
        for ref in self.price_books:
            h.update(str(ref.path).encode())
            try:
                h.update(ref.path.read_bytes())
            except OSError:
                h.update(b"<missing>")
        return h.hexdigest()[:16]


def _seconds(value: object) -> object:
    """A duration given as a number of seconds or like ``30m``, ``2h``, ``1d``, in seconds."""
    if isinstance(value, str):
        m = _DURATION.match(value)
        if not m:
            raise ValueError("a duration is a number of seconds or like 30m, 2h, 1d")
        return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    return value


def store_location_problem(location: str) -> str | None:
    """Why ``location`` cannot name a snapshot store (``None`` when it can): an unknown URL scheme,
    a ``sqlite://`` URL without a path, a server URL whose port is not a number. The message never
    repeats the URL (it may carry a password)."""
    match = _URL_SCHEME.match(location)
    if match is None:
        return None if location.strip() else "the store location is empty"
    scheme = match.group(1).lower()
    if scheme == "sqlite":
        rest = location[match.end():]
        return None if rest.startswith("/") and rest != "/" else (
            "a sqlite store URL needs a path: sqlite:///relative.db or sqlite:////absolute/path.db")
    if scheme in ("postgresql", "postgres"):
        try:
            urllib.parse.urlsplit(location).port  # noqa: B018 - parsing is the check
        except ValueError:
            return f"the port in the {scheme}:// store URL is not a number from 0 to 65535"
        return None
    return f"store URL scheme {scheme!r} is not supported (use a file path, sqlite:///path or postgresql://…)"


def _suggest(word: str, options: Mapping[str, Any] | list[str]) -> str:
    match = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def find_config(explicit: str | Path | None = None) -> Path:
    """The config file to use: ``explicit``, else ``$CLOUDCAT_CONFIG``, else ``./cloudcat.yaml``."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("CLOUDCAT_CONFIG")
    if env:
        return Path(env)
    return Path(DEFAULT_CONFIG_NAME)


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    def rel(p: Any) -> Any:
        if isinstance(p, str) and p and not os.path.isabs(os.path.expanduser(p)) and "://" not in p:
            return str(base / p)
        if isinstance(p, str):
            return os.path.expanduser(p)
        return p

    backends = data.get("backends")
    for backend in (backends.values() if isinstance(backends, dict) else ()):
        if isinstance(backend, dict) and isinstance(backend.get("options"), dict):
            opts = backend["options"]
            for key in _PATH_OPTIONS & set(opts):
                opts[key] = [rel(v) for v in opts[key]] if isinstance(opts[key], list) else rel(opts[key])
    books = data.get("price_books")
    if isinstance(books, list):
        data["price_books"] = [rel(b) if isinstance(b, str)
                               else ({**b, "path": rel(b.get("path"))} if isinstance(b, dict) else b)
                               for b in books]
    store = data.get("store")
    if isinstance(store, str) and "://" not in store and store != MEMORY_STORE:
        data["store"] = rel(store)


def _validation_error(exc: ValidationError, source: str, lines: Lines,
                      data: Any) -> ConfigError:
    # an unknown key is usually the typo behind a "missing" one: report it first
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        parent: Any = data
        for p in loc[:-1]:
            try:
                parent = parent[p]
            except (KeyError, IndexError, TypeError):
                parent = None
                break
        model_fields = _fields_at(loc[:-1])
        msg = f"unknown key {loc[-1]!r}{_suggest(str(loc[-1]), model_fields)}"
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return ConfigError(msg, source=source, line=line_of(lines, loc), field=dotted(loc) or None)


# (model, key) -> (model of the value, how many path parts it spans: 2 for a name or index after the key)
_NESTED: dict[tuple[type[BaseModel], str], tuple[type[BaseModel], int]] = {
    (Config, "backends"): (BackendConfig, 2), (Config, "brands"): (BrandConfig, 2),
    (Config, "price_books"): (PriceBookRef, 2), (BrandConfig, "offers"): (LogicalOfferConfig, 2),
    (BrandConfig, "operator_history"): (OperatorPeriod, 2), (BrandConfig, "lifecycle"): (Lifecycle, 1),
}


def _fields_at(loc: YamlPath) -> list[str]:
    """Field names valid at ``loc`` (for "did you mean")."""
    model: type[BaseModel] = Config
    i = 0
    while i < len(loc):
        step = _NESTED.get((model, str(loc[i])))
        if step is None:
            return []
        model, span = step
        i += span
    return list(model.model_fields)


def parse_config(data: Mapping[str, Any], *, source: str = "<config>",
                 lines: Lines | None = None,
                 base: Path | None = None) -> Config:
    """Validate a configuration mapping (``${VAR}`` expanded, paths resolved against ``base``)."""
    lines = lines or {}
    if not isinstance(data, Mapping):
        raise ConfigError("the configuration must be a mapping with backends, brands, price_books, store",
                          source=source, line=1)
    expanded = expand_env(dict(data), source=source, lines=lines)
    nul = nul_path(expanded)
    if nul is not None:  # brand names, labels and the rest go to the store, which keeps none
        raise ConfigError(NUL_MESSAGE, source=source,
                          line=line_of(lines, nul), field=dotted(nul))
    _resolve_paths(expanded, base or Path.cwd())
    try:
        config = Config.model_validate(expanded)
    except ValidationError as exc:
        raise _validation_error(exc, source, lines, expanded) from None
    _check_references(config, source, lines)
    config.source = source
    config._lines = lines
    return config


def _check_references(config: Config, source: str, lines: Lines) -> None:
    """Cross-field rules, reported at the line of the offending field."""

    def fail(message: str, *loc: str | int) -> NoReturn:
        raise ConfigError(message, source=source, line=line_of(lines, loc), field=dotted(loc))

    for name, brand in config.brands.items():
        if "/" in name:
            fail(f"brand name {name!r} cannot contain '/' (it begins offer ids)", "brands", name)
        field = "backend" if brand.backend else "backends"
        for i, backend in enumerate(brand.backend_names):
            if backend not in config.backends:
                loc: YamlPath = ("brands", name, field) if brand.backend else ("brands", name, field, i)
                fail(f"brand {name!r} names backend {backend!r}, which is not defined"
                     f"{_suggest(backend, config.backends)}", *loc)
    seen: dict[str, str] = {}
    for name, brand in config.brands.items():
        for other in [name, *brand.aliases, *brand.former_names]:
            key = other.casefold()
            if key in seen and seen[key] != name:
                fail(f"brand name or alias {other!r} is used by both {seen[key]!r} and {name!r}", "brands", name)
            seen[key] = name
    for i, ref in enumerate(config.price_books):
        if ref.backend and ref.backend not in config.backends:
            fail(f"price book {ref.path} names backend {ref.backend!r}, which is not defined"
                 f"{_suggest(ref.backend, config.backends)}", "price_books", i, "backend")


def load_config(path: str | Path | Mapping[str, Any] | Config | None = None) -> Config:
    """Load and validate a configuration file (or mapping). Raises :class:`ConfigError`."""
    if isinstance(path, Config):
        return path
    if isinstance(path, Mapping):
        return parse_config(path)
    file = find_config(path)
    doc = load_yaml(file, what="configuration",
                    missing="configuration file not found (give --config FILE or set CLOUDCAT_CONFIG)")
    return parse_config({} if doc.data is None else doc.data, source=doc.source, lines=doc.lines,
                        base=file.resolve().parent)
