"""Configuration files: valid ones load, malformed ones fail naming the file, line and field."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cloudcat.config import load_config
from cloudcat.errors import ConfigError

GOOD = """\
backends:
  fe:
    driver: static
    options:
      paths: [data/fe.yaml]
  cav:
    driver: static
    options: {paths: [data/cav.yaml], timeout: 5}
brands:
  orange-iaas:
    display_name: Orange IaaS
    operator: Orange Business
    operator_history:
      - {operator: Orange Business Services, until: 2022-12-31}
    aliases: [OBS IaaS]
    former_names: [Flexible Engine]
    labels: [secnumcloud]
    backend: fe
  bleu:
    backends: [cav]
price_books:
  - prices/fe.csv
  - {path: prices/cav.yaml, backend: cav}
store: state/catalog.db
max_age: 30m
"""


def write(tmp_path: Path, text: str, name: str = "cloudcat.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_good_config_loads_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.backends["fe"].options["paths"] == [str(tmp_path / "data/fe.yaml")]
    assert cfg.brands["orange-iaas"].backend_names == ["fe"]
    assert cfg.brands["bleu"].backend_names == ["cav"]
    assert cfg.price_books[0].path == tmp_path / "prices/fe.csv"
    assert cfg.price_books[1].backend == "cav"
    assert cfg.store == str(tmp_path / "state/catalog.db")
    assert cfg.max_age == 1800
    assert cfg.brands["orange-iaas"].operator_history[0].operator == "Orange Business Services"


def test_environment_variables_are_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC_TEST_PASSWORD", "s3cr3t-value")
    path = write(tmp_path, """\
        backends:
          b: {driver: openstack, options: {auth: {password: "${CC_TEST_PASSWORD}"}}}
        brands:
          x: {backend: b}
        """)
    assert load_config(path).backends["b"].options["auth"]["password"] == "s3cr3t-value"


def test_a_literal_dollar_brace_is_written_twice(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        backends:
          b: {driver: static, options: {template: "$${HOME}/x"}}
        brands:
          x: {backend: b}
        """)
    assert load_config(path).backends["b"].options["template"] == "${HOME}/x"


def test_cloudcat_config_environment_variable_names_the_file(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, GOOD, "elsewhere.yaml")
    monkeypatch.setenv("CLOUDCAT_CONFIG", str(path))
    assert "orange-iaas" in load_config().brands


# (config text, expected line, substrings the message must contain)
MALFORMED = [
    pytest.param("backends: [\n", 2, ["invalid YAML"], id="yaml-syntax"),
    pytest.param("- just\n- a list\n", 1, ["must be a mapping"], id="not-a-mapping"),
    pytest.param("backends: {}\nbrand: {}\n", 2, ["unknown key 'brand'", "did you mean 'brands'"],
                 id="unknown-top-level-key"),
    pytest.param("backends:\n  b:\n    drivr: static\n", 3, ["unknown key 'drivr'", "did you mean 'driver'"],
                 id="unknown-backend-key"),
    pytest.param("backends:\n  b:\n    options: {}\n", 2, ["backends.b.driver", "Field required"],
                 id="missing-driver"),
    pytest.param("backends:\n  b: {driver: static}\nbrands:\n  x:\n    operator: Acme\n", 4,
                 ["brands.x", "needs 'backend'"], id="brand-without-backend"),
    pytest.param("backends:\n  fe: {driver: static}\nbrands:\n  x:\n    backend: fee\n", 5,
                 ["backend 'fee'", "not defined", "did you mean 'fe'"], id="brand-unknown-backend"),
    pytest.param("backends:\n  b: {driver: static}\nbrands:\n  x: {backend: b, backends: [b]}\n", 4,
                 ["either 'backend' or 'backends'"], id="backend-and-backends"),
    pytest.param("backends:\n  b: {driver: static}\nbrands:\n  x:\n    backend: b\n    aliasses: [y]\n", 6,
                 ["unknown key 'aliasses'", "did you mean 'aliases'"], id="unknown-brand-key"),
    pytest.param("backends:\n  b: {driver: static}\nbrands:\n  x: {backend: b, aliases: [z]}\n"
                 "  y: {backend: b, former_names: [Z]}\n", None, ["'Z'", "both 'x' and 'y'"],
                 id="alias-collision"),
    pytest.param("backends:\n  b:\n    driver: static\n    options:\n      password: ${CC_UNSET_VARIABLE_X}\n", 5,
                 ["CC_UNSET_VARIABLE_X is not set", "backends.b.options.password"], id="unset-env"),
    pytest.param("max_age: soon\n", 1, ["max_age", "duration"], id="bad-duration"),
    pytest.param("concurrency: 0\n", 1, ["concurrency", "greater than or equal to 1"], id="bad-concurrency"),
    pytest.param("backends:\n  b: {driver: static}\nbrands:\n  x:\n    backend: b\n    operator_history:\n"
                 "      - {operator: A, since: not-a-date}\n", 7, ["operator_history[0].since"],
                 id="bad-date"),
    pytest.param("backends:\n  b: {driver: static}\nbrands:\n  x/y: {backend: b}\n", None, ["cannot contain '/'"],
                 id="slash-in-brand"),
    pytest.param("backends:\n  b: {driver: static}\n  b: {driver: openstack}\n", 3,
                 ["duplicate key 'b' (first at line 2)"], id="duplicate-key"),
    pytest.param("backends:\n  b: {driver: static}\nbrands:\n  x:\n    backend: b\n    offers:\n"
                 "      - {id: gp}\n      - {id: gp}\n", 4, ["logical offer id(s) gp defined more than once"],
                 id="duplicate-logical-offer"),
]


@pytest.mark.parametrize(("text", "line", "expected"), MALFORMED)
def test_malformed_config_names_file_line_and_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    text: str, line: int | None, expected: list[str]) -> None:
    monkeypatch.delenv("CC_UNSET_VARIABLE_X", raising=False)
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    if line is not None:
        assert info.value.line == line, message
        assert f"{path}:{line}" in message
    for part in expected:
        assert part in message, message


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "nope.yaml")


def test_cli_config_error_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "backends:\n  b:\n    drivr: static\n")
    proc = subprocess.run([sys.executable, "-m", "cloudcat.cli", "offers", "--config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, proc.stderr
    assert f"{path}:3" in lines[0] and "did you mean 'driver'" in lines[0]


def test_cli_debug_flag_shows_the_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "backends:\n  b:\n    drivr: static\n")
    proc = subprocess.run([sys.executable, "-m", "cloudcat.cli", "--debug", "offers", "--config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


def test_reprs_never_show_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC_TEST_SECRET", "hunter2-very-secret")
    path = write(tmp_path, """\
        backends:
          b:
            driver: openstack
            options:
              auth: {username: me, password: "${CC_TEST_SECRET}", application_credential_secret: "${CC_TEST_SECRET}"}
              api_token: "${CC_TEST_SECRET}"
        brands:
          x: {backend: b}
        """)
    import cloudcat

    config = load_config(path)
    catalog = cloudcat.open_catalog(config)
    for text in (repr(config), str(config), repr(config.backends["b"]), repr(catalog)):
        assert "hunter2-very-secret" not in text
    assert "username': 'me'" in repr(config)  # only secrets are masked


def test_price_books_refuse_duplicate_keys_like_the_configuration(tmp_path: Path) -> None:
    from cloudcat.prices import PriceBook

    book = write(tmp_path, "items:\n  - name: s3.large.2\n    backend: fe\n    name: s3.xlarge.2\n", "fe.yaml")
    with pytest.raises(ConfigError) as info:
        PriceBook.load([book])
    assert info.value.line == 4
    assert f"{book}:4" in str(info.value) and "duplicate key 'name' (first at line 2)" in str(info.value)


# -- the exported JSON Schema takes every valid configuration ----------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def _documented_configs() -> list[tuple[str, object]]:
    """Every configuration example in the docs, the READMEs and examples/ (YAML with backends or brands)."""
    import re

    import yaml

    found: list[tuple[str, object]] = []
    pages = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md", *sorted(ROOT.glob("drivers/*/README.md"))]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for m in re.finditer(r"```ya?ml\n(.*?)```", text, re.S):
            data = yaml.safe_load(m.group(1))
            if isinstance(data, dict) and {"backends", "brands"} & set(data):
                found.append((f"{page.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 1}", data))
    for path in [*sorted((ROOT / "examples").rglob("*.y*ml")), *sorted((ROOT / "tests" / "data").glob("*.yaml"))]:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and {"backends", "brands"} & set(data):
            found.append((str(path.relative_to(ROOT)), data))
    found.append(("GOOD", yaml.safe_load(GOOD)))
    found.append(("durations and bare price book paths", {
        "backends": {"s": {"driver": "static", "options": {"paths": ["c.yaml"]}, "deadline": "5m"}},
        "price_books": ["prices.csv", {"path": "more.yaml", "backend": "s"}],
        "max_age": "30m", "backend_deadline": 90, "refresh_deadline": "1h", "store": ":memory:"}))
    return found


@pytest.fixture(scope="module")
def config_schema() -> dict[str, object]:
    import json

    proc = subprocess.run([sys.executable, "-m", "cloudcat.cli", "schema", "--model", "config"],
                          capture_output=True, text=True, timeout=120, check=True)
    schema: dict[str, object] = json.loads(proc.stdout)
    return schema


def test_config_schema_accepts_every_documented_config(config_schema: dict[str, object]) -> None:
    import json

    import jsonschema

    jsonschema.Draft202012Validator.check_schema(config_schema)
    validator = jsonschema.Draft202012Validator(config_schema)
    examples = _documented_configs()
    assert len(examples) >= 5
    for where, data in examples:
        as_editors_see_it = json.loads(json.dumps(data, default=str))  # YAML dates are strings in JSON
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(as_editors_see_it)]
        assert not errors, (where, errors)


@pytest.mark.parametrize("bad", [
    {"backend": {}},
    {"max_age": "soon"},
    {"price_books": [3]},
    {"backends": {"s": {"driver": "static", "deadline": "a while"}}},
])
def test_config_schema_still_rejects_invalid_configs(config_schema: dict[str, object], bad: object) -> None:
    import jsonschema

    assert list(jsonschema.Draft202012Validator(config_schema).iter_errors(bad))


@pytest.mark.parametrize(("text", "line", "field"), [
    ('brands:\n  fe:\n    backend: fe\n    labels: [ok, "a\\0b"]\n', 4, "brands.fe.labels[1]"),
    ('brands:\n  "f\\x00e":\n    backend: fe\n', 2, "brands.f\x00e"),
    ('brands:\n  fe:\n    backend: fe\n    operator: "Orange\\u0000"\n', 4, "brands.fe.operator"),
])
def test_a_nul_character_in_the_configuration_names_its_line_and_field(tmp_path: Path, text: str, line: int,
                                                                        field: str) -> None:
    """Brand names, labels and operators go to the store, which keeps no NUL in a text."""
    path = write(tmp_path, "backends:\n  fe:\n    driver: static\n" + text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert (info.value.line, info.value.field) == (line + 3, field)
    assert "NUL" in str(info.value)
