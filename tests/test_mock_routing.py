"""The routing tables mocked platforms declare: placeholders, catch-alls, methods, table order."""

from __future__ import annotations

import pytest

from cloudcat.testing.routing import ANY, Route, Router


def test_placeholders_fill_one_segment_and_path_takes_the_rest() -> None:
    router = Router([
        Route("GET", "/{region}/compute/v2.1/flavors/{flavor_id}", "show_flavor"),
        Route(ANY, "/{region}/compute/{rest:path}", "compute_catch_all"),
    ])
    found = router.match("GET", "/fr1/compute/v2.1/flavors/42")
    assert found is not None and found.handler == "show_flavor"
    assert found.params == {"region": "fr1", "flavor_id": "42"}
    deep = router.match("GET", "/fr1/compute/v2.1/flavors/42/a/b")
    assert deep is not None and deep.handler == "compute_catch_all" and deep.params["rest"] == "v2.1/flavors/42/a/b"
    bare = router.match("GET", "/fr1/compute")  # {rest:path} may be empty
    assert bare is not None and bare.params == {"region": "fr1", "rest": ""}
    assert router.match("GET", "/fr1/computer") is None
    assert router.match("GET", "/fr1") is None


def test_first_route_in_table_order_wins_and_methods_are_exact() -> None:
    router = Router(
        [Route("POST", "/identity/v3/auth/tokens", "issue"),
         Route(("GET", "HEAD"), "/identity/v3/auth/tokens", "validate")],
        [Route(ANY, "/identity/v3/auth/tokens", "refuse")],
    )
    assert len(router) == 3 and [r.handler for r in router] == ["issue", "validate", "refuse"]
    picked = {m: router.match(m, "/identity/v3/auth/tokens") for m in ("POST", "GET", "head", "DELETE")}
    assert {m: f.handler for m, f in picked.items() if f} == {"POST": "issue", "GET": "validate", "head": "validate",
                                                              "DELETE": "refuse"}
    assert Router([Route("GET", "/a", "a")]).match("HEAD", "/a") is None  # no HEAD unless listed


def test_the_root_and_a_catch_all_of_everything() -> None:
    router = Router([Route(ANY, "/", "root"), Route(ANY, "/{rest:path}", "rest")])
    root = router.match("GET", "/")
    assert root is not None and root.handler == "root" and root.params == {}
    other = router.match("PUT", "/api/x")
    assert other is not None and other.handler == "rest" and other.params == {"rest": "api/x"}


@pytest.mark.parametrize("pattern", ["api/x", "/a/b{x}", "/a/{rest:path}/b", "/a/{x:int}"])
def test_malformed_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError):
        Route("GET", pattern, "h")
