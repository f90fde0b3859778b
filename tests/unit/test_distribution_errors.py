"""Error bodies, Docker-like messages, Retry-After and the retry policy."""

from __future__ import annotations

import random

import pytest

from dockyard.distribution.errors import (
    AuthenticationError,
    ErrorDetail,
    NotFound,
    RegistryError,
    TooManyRequests,
    make_error,
    parse_error_body,
)
from dockyard.distribution.retry import RetryPolicy, as_policy, parse_retry_after

pytestmark = pytest.mark.unit


def test_parse_error_body():
    body = (b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown",'
            b'"detail":{"Tag":"nope"}},{"code":"NAME_UNKNOWN","message":"repository name not '
            b'known to registry"}]}')
    assert parse_error_body(body) == (
        ErrorDetail("MANIFEST_UNKNOWN", "manifest unknown", {"Tag": "nope"}),
        ErrorDetail("NAME_UNKNOWN", "repository name not known to registry"),
    )


@pytest.mark.parametrize("body", [b"", b"<html>oops</html>", b"[]", b'{"errors": 3}',
                                  b'{"errors": [{"message": "no code"}]}', b"\xff\xfe"])
def test_parse_error_body_not_oci(body):
    assert parse_error_body(body) == ()


def test_token_server_details():
    assert parse_error_body(b'{"details":"incorrect username or password"}') == (
        ErrorDetail("UNAUTHORIZED", "incorrect username or password"),)


@pytest.mark.parametrize(("status", "body", "hint", "cls", "message", "codes"), [
    (404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}', None,
     NotFound, "manifest unknown: manifest unknown", ("MANIFEST_UNKNOWN",)),
    (401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required",'
          b'"detail":[{"Type":"repository","Name":"x","Action":"pull"}]}]}', None,
     AuthenticationError, "unauthorized: authentication required", ("UNAUTHORIZED",)),
    (401, b"", None, AuthenticationError, "unauthorized: authentication required",
     ("UNAUTHORIZED",)),
    (403, b"", None, AuthenticationError,
     "denied: requested access to the resource is denied", ("DENIED",)),
    (404, b"", "MANIFEST_UNKNOWN", NotFound, "manifest unknown: manifest unknown",
     ("MANIFEST_UNKNOWN",)),
    (404, b"", None, NotFound, "unexpected status 404 from GET request to http://r/v2/x", ()),
    (429, b"", None, TooManyRequests, "toomanyrequests: too many requests", ("TOOMANYREQUESTS",)),
    (500, b"boom\n", None, RegistryError,
     "unexpected status 500 from GET request to http://r/v2/x: boom", ()),
    (400, b'{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match '
          b'uploaded content"},{"code":"SIZE_INVALID","message":"x"}]}', None, RegistryError,
     "digest invalid: provided digest did not match uploaded content; size invalid: x",
     ("DIGEST_INVALID", "SIZE_INVALID")),
])
def test_make_error(status, body, hint, cls, message, codes):
    err = make_error(status, body, repository="lib/x", reference="v1", method="GET",
                     url="http://r/v2/x", code_hint=hint)
    assert type(err) is cls
    assert str(err) == message
    assert "\n" not in str(err)
    assert err.codes == codes
    assert err.status == status
    assert (err.repository, err.reference) == ("lib/x", "v1")


def test_too_many_requests_carries_retry_after():
    err = make_error(429, b"", headers={"Retry-After": "7"})
    assert isinstance(err, TooManyRequests) and err.retry_after == 7.0


@pytest.mark.parametrize(("value", "expected"), [
    ("3", 3.0), (" 120 ", 120.0), (None, None), ("", None), ("soon", None), ("-1", None),
    ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0), ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
])
def test_parse_retry_after(value, expected):
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert parse_retry_after(value, now=now) == expected


def test_backoff_is_capped_full_jitter():
    policy = RetryPolicy(retries=10, base_delay=0.5, max_delay=4.0)
    rng = random.Random(1)
    for attempt in range(10):
        for _ in range(50):
            d = policy.backoff(attempt, rng)
            assert 0.0 <= d <= min(4.0, 0.5 * 2**attempt)


def test_delay_for():
    policy = RetryPolicy(retries=2, base_delay=0.1, max_retry_after=30)
    assert policy.delay_for(429, "5", 0) == 5.0
    assert policy.delay_for(503, "2", 1) == 2.0
    assert policy.delay_for(429, "600", 0) is None  # longer than we wait: give up now
    assert 0 <= policy.delay_for(502, None, 0) <= 0.1
    assert 0 <= policy.delay_for(500, "5", 0) <= 0.1  # Retry-After only on 429/503
    assert policy.delay_for(503, None, 2) is None  # out of retries
    for status in (400, 401, 403, 404, 405, 409, 416):
        assert policy.delay_for(status, "1", 0) is None


def test_as_policy():
    assert as_policy(0).retries == 0
    assert as_policy(-3).retries == 0
    p = RetryPolicy(retries=1)
    assert as_policy(p) is p
