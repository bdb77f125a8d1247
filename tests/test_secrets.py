"""Secrets: found wherever options hold them, masked in any text, never left in a log record."""

from __future__ import annotations

import io
import logging
import string
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr

from cloudcat.config import BackendConfig, secret_values
from cloudcat.errors import redact as redact_from_errors
from cloudcat.redaction import RedactingFilter, register_secrets
from cloudcat.secrets import SECRET_NAME, find_secrets, is_secret_name, mask_secrets, mask_url, redact

# -- names --------------------------------------------------------------------------------------

SECRET_NAMES = ["password", "OS_PASSWORD", "passwd", "passphrase", "client_secret", "secret", "token",
                "api_token", "auth-token", "apiKey", "api_key", "api-key", "access_key", "accessKey",
                "secret_access_key", "private_key", "privateKey", "credentials",
                "application_credential_secret"]
PLAIN_NAMES = ["username", "user", "auth_url", "region", "project_name", "timeout", "private_network",
               "application_credential_id", "application_credential_name", "token_url", "password_file",
               "token_ttl", "access_key_id", "secret_name", "tokenType", "name", "url"]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)
    assert SECRET_NAME.search(name)


@pytest.mark.parametrize("name", PLAIN_NAMES)
def test_names_about_a_secret_are_not_secret(name: str) -> None:
    assert not is_secret_name(name)


# -- finding secrets at any depth -----------------------------------------------------------------

# secret values: distinct from every key and from each other, so finding one cannot be luck
_values = st.text(alphabet=string.ascii_letters + string.digits + "-_.!#", min_size=6, max_size=16) \
    .map(lambda s: "S3CR3T" + s)
_plain = st.text(alphabet=string.ascii_lowercase + " ", max_size=8)
_plain_keys = st.sampled_from(PLAIN_NAMES)
_secret_keys = st.sampled_from(SECRET_NAMES)


class Leaf(BaseModel):
    """A model holding a SecretStr field and a plain field."""

    key: SecretStr
    note: str = ""


class Box(BaseModel):
    """A model holding anything (a model inside the tree)."""

    inner: Any


def _hide(value: str) -> st.SearchStrategy[Any]:
    """Ways a secret can sit in options: SecretStr, under a secret-named key, in a URL, in a model."""
    return st.one_of(
        st.just(SecretStr(value)),
        _secret_keys.map(lambda k: {k: value}),
        _secret_keys.map(lambda k: {k: [value]}),  # a list of tokens under a secret-named key
        st.just(f"https://admin:{value}@identity.example.com/v3"),
        st.just(Leaf(key=SecretStr(value), note="x")),
    )


def _nest(tree: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Put ``tree`` somewhere inside mappings, lists, tuples and models, with plain neighbours."""
    return st.recursive(
        tree,
        lambda inner: st.one_of(
            st.tuples(_plain_keys, inner, st.dictionaries(_plain_keys, _plain, max_size=2))
            .map(lambda t: {**t[2], t[0]: t[1]}),
            st.tuples(inner, st.lists(_plain, max_size=2)).map(lambda t: [*t[1], t[0]]),
            inner.map(lambda v: (v,)),
            inner.map(lambda v: Box(inner=v)),
        ),
        max_leaves=6,
    )


@settings(max_examples=150)
@given(st.lists(_values, min_size=1, max_size=4, unique=True).flatmap(
    lambda values: st.tuples(st.just(values), st.tuples(*[_nest(_hide(v)) for v in values]))))
def test_every_secret_is_found_at_any_depth(case: tuple[list[str], tuple[Any, ...]]) -> None:
    values, trees = case
    found = find_secrets({"options": list(trees)})
    assert set(values) <= set(found)
    assert not [s for s in found if not s.startswith("S3CR3T")]  # nothing plain is taken for a secret
    assert len(found) == len(set(found))


@settings(max_examples=200)
@given(_nest(st.dictionaries(_plain_keys, _plain, max_size=3)))
def test_plain_options_hold_no_secret(options: Any) -> None:
    assert find_secrets(options) == []


def test_secret_values_in_configuration_are_the_same_finding(tmp_path: Any) -> None:
    options = {"auth": {"username": "me", "password": "pw-one"}, "api_token": "tok-two",
               "endpoint": "https://u:pw-three@h.example/", "application_credential_id": "not-secret-id"}
    assert secret_values(options) == find_secrets(options) == ["pw-one", "tok-two", "pw-three"]


# -- masking text ---------------------------------------------------------------------------------

_url_part = st.text(alphabet=string.ascii_letters + string.digits + "-._~", min_size=1, max_size=12)
# a password may hold ':' and '@' (as URL parsers read it, it runs to the last '@' before the host)
_url_password = st.text(alphabet=string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@%", min_size=1,
                        max_size=16)


@settings(max_examples=300)
@given(scheme=st.sampled_from(["http", "https", "postgresql", "redis", "git+ssh"]), user=_url_part,
       password=_url_password, host=_url_part, path=st.sampled_from(["", "/", "/v3", "/a/b?x=1"]),
       before=st.sampled_from(["", "GET ", "connect to "]), after=st.sampled_from(["", " failed", "\nnext"]))
def test_url_passwords_are_masked(scheme: str, user: str, password: str, host: str, path: str, before: str,
                                  after: str) -> None:
    text = f"{before}{scheme}://{user}:{password}@{host}{path}{after}"
    expected = f"{before}{scheme}://{user}:***@{host}{path}{after}"
    assert mask_url(text) == expected
    assert redact(text, []) == expected
    assert find_secrets({"url": text}) == [password]


def test_urls_without_password_are_left_alone() -> None:
    for text in ("https://identity.example.com/v3", "http://user@host/", "http://host:8080/a@b",
                 "see host:8080", "mailto:someone@example.com"):
        assert mask_url(text) == text


_alphabet = string.ascii_letters[:6] + "*:/@ "


@settings(max_examples=500)
@example(text="x://b:cde@h", secrets=["b:***"])  # the URL mask must not spell a secret either
@example(text="abcx", secrets=["***x", "abc"])  # nor the mask of another secret
@given(text=st.text(alphabet=_alphabet, max_size=60),
       secrets=st.lists(st.text(alphabet=_alphabet, min_size=3, max_size=8), max_size=5))
def test_redact_never_leaves_a_secret(text: str, secrets: list[str]) -> None:
    # a secret made only of '*' cannot be told from the mask itself
    secrets = [s for s in secrets if s.strip("*")]
    for i in range(0, len(text), 7):  # splice the secrets into the text, also next to each other
        text = text[:i] + "".join(secrets) + text[i:]
    cleaned = redact(text, secrets)
    for secret in secrets:
        assert secret not in cleaned


@given(st.lists(st.text(min_size=1, max_size=2), max_size=4), st.text(max_size=30))
def test_values_shorter_than_three_characters_are_not_masked(short: list[str], text: str) -> None:
    assume("://" not in text)
    assert redact(text, [*short, None, ""]) == text


def test_longer_secret_is_masked_whole() -> None:
    assert redact("token abcdef", ["abc", "abcdef"]) == "token ***"


def test_errors_redact_is_the_same_function() -> None:
    assert redact_from_errors is redact


# -- reprs and logs -------------------------------------------------------------------------------

def test_mask_secrets_copies_and_masks_at_any_depth() -> None:
    options: dict[str, Any] = {
        "auth": {"username": "me", "password": "hunter2"}, "tokens": ["a-token"], "empty_password": "",
        "endpoint": "https://u:pw-in-url@h/", "clouds": [{"api_key": "k-123"}], "port": 5}
    masked = mask_secrets(options)
    assert masked == {"auth": {"username": "me", "password": "**********"}, "tokens": "**********",
                      "empty_password": "", "endpoint": "https://u:***@h/",
                      "clouds": [{"api_key": "**********"}], "port": 5}
    assert options["auth"]["password"] == "hunter2"  # a copy: the options are untouched


def test_backend_repr_hides_secrets() -> None:
    backend = BackendConfig(driver="x", options={"password": "hunter2-long", "url": "http://a:pw-long@h/"})
    text = repr(backend)
    assert "hunter2-long" not in text and "pw-long" not in text
    assert "driver='x'" in text


@settings(max_examples=25)  # each run adds its secrets to the process-wide registry
@given(st.lists(_values, min_size=1, max_size=3, unique=True), st.text(max_size=20))
def test_logging_filter_masks_registered_secrets(secrets: list[str], noise: str) -> None:
    register_secrets(secrets)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("cloudcat.test_secrets")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        logger.debug("calling %s with %r (%s)", "https://me:" + secrets[0] + "@h/", secrets, noise)
        try:
            raise RuntimeError(f"refused {secrets[-1]}")
        except RuntimeError:
            logger.exception("failed %s", noise)
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "RuntimeError" in output and "calling https://me:***@h/" in output
    for secret in secrets:
        assert secret not in output
