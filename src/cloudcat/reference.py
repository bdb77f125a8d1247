"""Reference pages generated from the code: the configuration (from the models) and the
capability matrix (from the installed drivers). ``python -m cloudcat.reference DOCS_DIR`` writes
``configuration.md`` and ``capabilities.md``; a test keeps the committed pages current."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from .config import BackendConfig, BrandConfig, Config, LogicalOfferConfig, PriceBookRef
from .models import Lifecycle, OperatorPeriod, Price
from .prices import PriceRule
from .yamlfile import ENV_SYNTAX

__all__ = ["capability_matrix", "configuration_reference", "main", "model_table"]


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    text = text or str(annotation)
    for noise in ("typing.", "pathlib.", "datetime.", "decimal.", "cloudcat.models.", "cloudcat.config.",
                  "pydantic.types.", "<class '", "'>"):
        text = text.replace(noise, "")
    return text.replace("|", "\\|")


def model_table(model: type[BaseModel]) -> str:
    """A Markdown table of a model's fields: name, type, default, description."""
    rows = ["| field | type | default | description |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        if info.default is not PydanticUndefined:
            default = f"`{info.default!r}`"
        elif info.default_factory is not None:
            default = "empty"
        else:
            default = "**required**"
        description = (info.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{name}` | {_type_name(info.annotation)} | {default} | {description} |")
    return "\n".join(rows)


def _doc(model: type[BaseModel]) -> str:
    return (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")


def configuration_reference() -> str:
    """The configuration reference page."""
    parts = ["# Configuration reference",
             "",
             "Generated from the models by `python -m cloudcat.reference docs`; do not edit by hand.",
             f"The file is `cloudcat.yaml` (or `--config`, or `$CLOUDCAT_CONFIG`). {ENV_SYNTAX} "
             "Unknown keys are errors.", ""]
    for title, model in (("Top level", Config), ("`backends.<name>`", BackendConfig),
                         ("`brands.<name>`", BrandConfig), ("`brands.<name>.offers[]` (logical offers)",
                                                            LogicalOfferConfig),
                         ("`brands.<name>.operator_history[]`", OperatorPeriod),
                         ("`lifecycle`", Lifecycle), ("`price_books[]`", PriceBookRef),
                         ("Price book rules (rows of a price book file)", PriceRule), ("Prices", Price)):
        parts += [f"## {title}", "", _doc(model), "", model_table(model), ""]
        if model is LogicalOfferConfig:
            parts += ["Its other keys are the offer filters ([reference](filters.md)); `regions` is read as "
                      "`region`.", ""]
    return "\n".join(parts)


def filters_reference() -> str:
    """The offer filters page: one row per declared filter (:mod:`cloudcat.filters`)."""
    from .filters import reference_table

    return "\n".join([
        "# Offer filters", "",
        "Generated from `cloudcat.filters.OfferFilters` by `python -m cloudcat.reference docs`; do not edit by hand.",
        "", "The same filters are the keyword arguments of `Catalog.offers()` / `iter_offers()` / `query()`, the "
        "options of `cloudcat offers`, and the keys of a brand's logical offers. Every filter given must hold. "
        "A \"one of\" filter takes one value or a list (a repeated option on the command line).", "",
        reference_table()])


def capability_matrix() -> str:
    """The capability matrix of the installed drivers, with their options."""
    from .registry import driver_infos, load_driver

    infos = [d for d in driver_infos() if d.error is None]
    flags = ["zones", "prices", "paging", "flexible_compute", "lifecycle"]
    kinds = ["compute", "image", "storage", "network", "location"]
    lines = ["# Driver capabilities", "",
             "Generated from the installed drivers by `python -m cloudcat.reference docs`; do not edit by hand.", "",
             "| driver | distribution | " + " | ".join(kinds + flags) + " |",
             "|---|---|" + "---|" * (len(kinds) + len(flags))]
    for d in infos:
        caps = d.capabilities
        cells = ["✓" if k in caps.get("kinds", []) else "" for k in kinds]
        cells += ["✓" if caps.get(f) else "" for f in flags]
        lines.append(f"| `{d.name}` | {d.distribution} {d.version} | " + " | ".join(cells) + " |")
    for d in infos:
        cls = load_driver(d.name)
        options = getattr(cls, "Options", None)
        if options is not None:
            lines += ["", f"## `{d.name}` options", "", _doc(options), "", model_table(options)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the generated pages into the folder given (default ``docs``)."""
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0] if args else "docs")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "configuration.md").write_text(configuration_reference(), encoding="utf-8")
    (folder / "capabilities.md").write_text(capability_matrix(), encoding="utf-8")
    (folder / "filters.md").write_text(filters_reference(), encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
