"""WWW-Authenticate parsing, scope strings, the token cache, the Authenticator's decisions."""

from __future__ import annotations

import asyncio

import pytest

from dockyard.distribution.auth import Authenticator
from dockyard.distribution.authconfig import AuthConfig, basic_header, resolve
from dockyard.distribution.challenge import parse_challenges
from dockyard.distribution.scope import Scope, merge, parse_scopes, repository
from dockyard.distribution.token import MIN_LIFETIME, Token, TokenCache, token_params

pytestmark = pytest.mark.unit

CHALLENGES = [
    # (header, [(scheme, params, token68)])
    (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/busybox:pull"',
        [("bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                     "scope": "repository:library/busybox:pull"}, None)],
    ),
    ('Basic realm="Registry Realm"', [("basic", {"realm": "Registry Realm"}, None)]),
    ('basic realm=simple', [("basic", {"realm": "simple"}, None)]),
    (
        'Bearer realm="https://a/token", error="insufficient_scope", '
        'scope="repository:x:pull repository:y:pull,push"',
        [("bearer", {"realm": "https://a/token", "error": "insufficient_scope",
                     "scope": "repository:x:pull repository:y:pull,push"}, None)],
    ),
    (
        'Basic realm="a, b", Bearer realm="https://t/token",service="s"',
        [("basic", {"realm": "a, b"}, None),
         ("bearer", {"realm": "https://t/token", "service": "s"}, None)],
    ),
    (r'Basic realm="say \"hi\" \\ bye"', [("basic", {"realm": 'say "hi" \\ bye'}, None)]),
    ('Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"',
     [("newauth", {"realm": "apps", "type": "1", "title": 'Login to "apps"'}, None),
      ("basic", {"realm": "simple"}, None)]),
    ("Negotiate abc123==, Basic realm=x", [("negotiate", {}, "abc123=="),
                                          ("basic", {"realm": "x"}, None)]),
    ("Negotiate", [("negotiate", {}, None)]),
    ('BEARER REALM = "r" , SERVICE = s', [("bearer", {"realm": "r", "service": "s"}, None)]),
    ("", []),
    (",,,", []),
]


@pytest.mark.parametrize(("header", "expected"), CHALLENGES)
def test_parse_challenges(header, expected):
    got = [(c.scheme, dict(c.params), c.token68) for c in parse_challenges(header)]
    assert got == expected


def test_challenges_from_several_header_lines():
    found = parse_challenges(['Basic realm="r"', 'Bearer realm="t",service="s"'])
    assert [c.scheme for c in found] == ["basic", "bearer"]
    assert found[1].realm == "t" and found[1].service == "s"


def test_challenge_scopes_split_on_spaces():
    (c,) = parse_challenges('Bearer realm="r",scope="repository:a:pull repository:b:push"')
    assert c.scopes == ("repository:a:pull", "repository:b:push")


SCOPES = [
    ("repository:samalba/my-app:pull,push", ("repository", "samalba/my-app", ("pull", "push"))),
    ("repository:localhost:5000/app:pull", ("repository", "localhost:5000/app", ("pull",))),
    ("registry:catalog:*", ("registry", "catalog", ("*",))),
    ("repository(plugin):vieux/sshfs:pull", ("repository(plugin)", "vieux/sshfs", ("pull",))),
    ("repository:x:push,pull,push", ("repository", "x", ("pull", "push"))),
    ("repository:x:", ("repository", "x", ())),
]


@pytest.mark.parametrize(("text", "expected"), SCOPES)
def test_scope_parse(text, expected):
    s = Scope.parse(text)
    assert (s.type, s.name, s.actions) == expected


@pytest.mark.parametrize("bad", ["repository", "repository:x", ":x:pull", "Repo:x:pull",
                                 "repository::pull", "repository:x:PULL"])
def test_scope_parse_rejects(bad):
    with pytest.raises(ValueError):
        Scope.parse(bad)


def test_scope_str_and_merge():
    assert str(repository("a/b", "push", "pull")) == "repository:a/b:pull,push"
    merged = merge([repository("b", "pull"), repository("a", "push"), repository("b", "push"),
                    Scope.parse("registry:catalog:*")])
    assert [str(s) for s in merged] == ["registry:catalog:*", "repository:a:push",
                                        "repository:b:pull,push"]
    assert parse_scopes("repository:a:pull garbage repository:h:5000/x:push") == [
        repository("a", "pull"), repository("h:5000/x", "push")]


def test_scope_covers():
    assert repository("a", "pull", "push").covers(repository("a", "pull"))
    assert not repository("a", "pull").covers(repository("a", "push"))
    assert not repository("a", "pull").covers(repository("b", "pull"))
    assert Scope("repository", "a", ("*",)).covers(repository("a", "delete"))


def test_token_params():
    (c,) = parse_challenges('Bearer realm="r",service="reg"')
    scopes = merge([repository("b", "pull"), repository("a", "push", "pull")])
    assert token_params(c, scopes, offline=False) == [
        ("service", "reg"), ("scope", "repository:a:pull,push"), ("scope", "repository:b:pull")]
    assert token_params(c, (), offline=True)[-2:] == [("offline_token", "true"),
                                                     ("client_id", "dockyard")]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_cache_expiry():
    clock = Clock()
    cache = TokenCache(clock)
    key = ("realm", "svc", (repository("a", "pull"),))
    cache.put(key, Token("t1", cache.expiry(120)))
    clock.now += 100
    assert cache.get(key).token == "t1"
    clock.now += 20
    assert cache.get(key) is None


@pytest.mark.parametrize("expires_in", [None, "soon", 0, 10])
def test_token_lifetime_defaults_to_and_is_at_least_60s(expires_in):
    clock = Clock()
    cache = TokenCache(clock)
    key = ("r", "s", ())
    cache.put(key, Token("t", cache.expiry(expires_in)))
    clock.now += MIN_LIFETIME - 10
    assert cache.get(key) is not None
    clock.now += 10
    assert cache.get(key) is None


def test_token_cache_keys_by_scope_set():
    cache = TokenCache(Clock())
    cache.put(("r", "s", merge([repository("a", "pull")])), Token("pull", cache.expiry(60)))
    assert cache.get(("r", "s", merge([repository("a", "pull", "push")]))) is None
    assert cache.get(("r", "s", merge([repository("a", "pull")]))).token == "pull"
    assert cache.get(("r", "other", merge([repository("a", "pull")]))) is None


def test_basic_header():
    assert basic_header("alice", "s:cret") == "Basic YWxpY2U6czpjcmV0"


def run(coro):
    return asyncio.run(coro)


def lookup(creds):
    async def get(host: str):
        return creds

    return get


def test_authenticator_anonymous_until_challenged():
    auth = Authenticator(lookup(None))

    async def go():
        assert await auth.authorization(None, "h", ()) is None  # type: ignore[arg-type]
        retry = await auth.challenged("h", ['Basic realm="x"'], None, ())
        # Basic without credentials: retrying anonymously cannot help.
        assert retry is None

    run(go())


def test_authenticator_basic():
    auth = Authenticator(lookup(AuthConfig("alice", "pw")))

    async def go():
        assert await auth.challenged("h", ['Basic realm="x"'], None, ()) == ()
        assert await auth.authorization(None, "h", ()) == basic_header("alice", "pw")
        assert await auth.authorization(None, "other", ()) is None
        # Rejected credentials are final.
        assert await auth.challenged("h", ['Basic realm="x"'], "Basic abc", ()) is None

    run(go())


def test_authenticator_bearer_retry_scopes_include_challenge_scope():
    auth = Authenticator(lookup(None))
    header = ('Bearer realm="r",service="s",scope="repository:a:pull,push",'
              'error="insufficient_scope"')

    async def go():
        retry = await auth.challenged("h", [header], "Bearer old", [repository("a", "pull")])
        assert [str(s) for s in retry] == ["repository:a:pull,push"]
        assert await auth.challenged("h", ['Digest realm="x"'], None, ()) is None

    run(go())


def test_authenticator_uses_registry_token_as_is():
    auth = Authenticator(lookup(AuthConfig(registry_token="abc")))

    async def go():
        await auth.challenged("h", ['Bearer realm="r"'], None, ())
        assert await auth.authorization(None, "h", ()) == "Bearer abc"
        assert await auth.challenged("h", ['Bearer realm="r"'], "Bearer abc", ()) is None

    run(go())


def test_resolve_plain_authconfig_only_for_own_registry():
    creds = AuthConfig("u", "p")

    async def go():
        assert await resolve(creds, "mirror:5000", own=False) is None
        assert await resolve(creds, "docker.io", own=True) == creds
        assert await resolve(AuthConfig(), "x", own=True) is None
        assert await resolve(lambda host: creds if host == "x" else None, "x", own=False) == creds
        assert await resolve(lookup(creds), "y", own=False) == creds

    run(go())


def test_authconfig_repr_hides_secrets():
    assert "pw" not in repr(AuthConfig("alice", "pw"))
