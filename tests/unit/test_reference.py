"""Image references against Docker's own examples.

The tables are the cases of distribution/reference v0.6 (the version Docker 26-28
vendor): ``reference_test.go`` (TestReferenceParse, TestWithTag/Digest, TestDomainAndPath)
and ``normalize_test.go`` (TestValidateReferenceName, TestValidateRemoteName,
TestParseRepositoryInfo, TestParseAnyReference, TestNormalizedSplitHostname), restated
as data.
"""

from __future__ import annotations

import time

import pytest
from tables import each

from dockyard.image.reference import (
    InvalidReference,
    Reference,
    familiar_string,
    is_valid_domain,
    parse_any,
    parse_named,
    parse_normalized_named,
    parse_raw,
    parse_reference,
    split_docker_domain,
    validate_tag,
)

pytestmark = pytest.mark.unit



F64 = "f" * 64
F128 = "f" * 128
D = "sha256:" + F64
REDIS_D = "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c"

# --- distribution's Parse (no normalisation) ------------------------------------------
# (input, error, name, domain, tag, digest)
RAW = [
    ("test_com", None, "test_com", "", None, None),
    ("test.com:tag", None, "test.com", "", "tag", None),
    ("test.com:5000", None, "test.com", "", "5000", None),
    ("test.com/repo:tag", None, "test.com/repo", "test.com", "tag", None),
    ("test:5000/repo", None, "test:5000/repo", "test:5000", None, None),
    ("test:5000/repo:tag", None, "test:5000/repo", "test:5000", "tag", None),
    (f"test:5000/repo@{D}", None, "test:5000/repo", "test:5000", None, D),
    (f"test:5000/repo:tag@{D}", None, "test:5000/repo", "test:5000", "tag", D),
    ("", "repository name must have at least one component", "", "", None, None),
    (":justtag", "invalid reference format", "", "", None, None),
    (f"@{D}", "invalid reference format", "", "", None, None),
    ("repo@sha256:" + "f" * 34, "invalid checksum digest length", "", "", None, None),
    (f"validname@invaliddigest:{F64}", "unsupported digest algorithm", "", "", None, None),
    ("Uppercase:tag", "repository name must be lowercase", "", "", None, None),
    ("test:5000/Uppercase/lowercase:tag", "repository name must be lowercase", "", "", None, None),
    ("lowercase:Uppercase", None, "lowercase", "", "Uppercase", None),
    (
        "domain/" + "a" * 256 + ":tag",
        "repository name must not be more than 255 characters",
        "",
        "",
        None,
        None,
    ),
    # v0.6 counts the path only: the first "a" is the domain, the path is 255 long
    ("a/" * 128 + "a:tag", None, "a/" * 128 + "a", "a", "tag", None),
    (
        "example.com/" + "a" * 255 + ":tag",
        None,
        "example.com/" + "a" * 255,
        "example.com",
        "tag",
        None,
    ),
    (
        "a/" * 127 + "a:tag-puts-this-over-max",
        None,
        "a/" * 127 + "a",
        "a",
        "tag-puts-this-over-max",
        None,
    ),
    ("aa/asdf$$^/aa", "invalid reference format", "", "", None, None),
    (
        "sub-dom1.foo.com/bar/baz/quux",
        None,
        "sub-dom1.foo.com/bar/baz/quux",
        "sub-dom1.foo.com",
        None,
        None,
    ),
    (
        "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
        None,
        "sub-dom1.foo.com/bar/baz/quux",
        "sub-dom1.foo.com",
        "some-long-tag",
        None,
    ),
    (
        "b.gcr.io/test.example.com/my-app:test.example.com",
        None,
        "b.gcr.io/test.example.com/my-app",
        "b.gcr.io",
        "test.example.com",
        None,
    ),
    (
        "xn--n3h.com/myimage:xn--n3h.com",
        None,
        "xn--n3h.com/myimage",
        "xn--n3h.com",
        "xn--n3h.com",
        None,
    ),
    (
        f"xn--7o8h.com/myimage:xn--7o8h.com@sha512:{F128}",
        None,
        "xn--7o8h.com/myimage",
        "xn--7o8h.com",
        "xn--7o8h.com",
        f"sha512:{F128}",
    ),
    ("foo_bar.com:8080", None, "foo_bar.com", "", "8080", None),
    ("foo/foo_bar.com:8080", None, "foo/foo_bar.com", "foo", "8080", None),
    ("192.168.1.1", None, "192.168.1.1", "", None, None),
    ("192.168.1.1:tag", None, "192.168.1.1", "", "tag", None),
    ("192.168.1.1:5000", None, "192.168.1.1", "", "5000", None),
    ("192.168.1.1/repo", None, "192.168.1.1/repo", "192.168.1.1", None, None),
    ("192.168.1.1:5000/repo", None, "192.168.1.1:5000/repo", "192.168.1.1:5000", None, None),
    ("192.168.1.1:5000/repo:5050", None, "192.168.1.1:5000/repo", "192.168.1.1:5000", "5050", None),
    ("[2001:db8::1]", "invalid reference format", "", "", None, None),
    ("[2001:db8::1]:5000", "invalid reference format", "", "", None, None),
    ("[2001:db8::1]:tag", "invalid reference format", "", "", None, None),
    ("[2001:db8::1]/repo", None, "[2001:db8::1]/repo", "[2001:db8::1]", None, None),
    (
        "[2001:db8:1:2:3:4:5:6]/repo:tag",
        None,
        "[2001:db8:1:2:3:4:5:6]/repo",
        "[2001:db8:1:2:3:4:5:6]",
        "tag",
        None,
    ),
    ("[2001:db8::1]:5000/repo", None, "[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", None, None),
    (
        "[2001:db8::1]:5000/repo:tag",
        None,
        "[2001:db8::1]:5000/repo",
        "[2001:db8::1]:5000",
        "tag",
        None,
    ),
    (
        f"[2001:db8::1]:5000/repo@{D}",
        None,
        "[2001:db8::1]:5000/repo",
        "[2001:db8::1]:5000",
        None,
        D,
    ),
    (
        f"[2001:db8::1]:5000/repo:tag@{D}",
        None,
        "[2001:db8::1]:5000/repo",
        "[2001:db8::1]:5000",
        "tag",
        D,
    ),
    ("[2001:db8::]:5000/repo", None, "[2001:db8::]:5000/repo", "[2001:db8::]:5000", None, None),
    ("[::1]:5000/repo", None, "[::1]:5000/repo", "[::1]:5000", None, None),
    ("[fe80::1%eth0]:5000/repo", "invalid reference format", "", "", None, None),
    ("[fe80::1%@invalidzone]:5000/repo", "invalid reference format", "", "", None, None),
]


def _check_parse_raw(text, err, name, domain, tag, digest):
    if err is not None:
        with pytest.raises(InvalidReference) as ei:
            parse_raw(text)
        assert str(ei.value) == err
        return
    ref = parse_raw(text)
    assert str(ref) == text
    assert (ref.name, ref.domain, ref.tag, ref.digest) == (name, domain, tag, digest)


def test_parse_raw():
    each(RAW, _check_parse_raw)


# --- ParseNormalizedNamed: accepted and refused -------------------------------------
VALID_NAMES = [
    "docker/docker",
    "library/debian",
    "debian",
    "docker.io/docker/docker",
    "docker.io/library/debian",
    "docker.io/debian",
    "index.docker.io/docker/docker",
    "index.docker.io/library/debian",
    "index.docker.io/debian",
    "127.0.0.1:5000/docker/docker",
    "127.0.0.1:5000/library/debian",
    "127.0.0.1:5000/debian",
    "192.168.0.1",
    "192.168.0.1:80",
    "192.168.0.1:8/debian",
    "192.168.0.2:25000/debian",
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    "[fc00::1]:5000/docker",
    "[fc00::1]:5000/docker/docker",
    "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
    "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    "Docker/docker",
    "DOCKER/docker",
    # TestValidateRemoteName
    "docker-rules/docker",
    "docker---rules/docker",
    "doc/docker",
    "d/docker",
    "jess/t",
    "dock__er/docker",
]
INVALID_NAMES = [
    "https://github.com/docker/docker",
    "docker/Docker",
    "-docker",
    "-docker/docker",
    "-docker.io/docker/docker",
    "docker///docker",
    "docker.io/docker/Docker",
    "docker.io/docker///docker",
    "[fc00::1]",
    "[fc00::1]:5000",
    "fc00::1:5000/debian",
    "[fe80::1%eth0]:5000/debian",
    "[2001:db8:3:4::192.0.2.33]:5000/debian",
    "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    # TestValidateRemoteName
    "docker-/docker",
    "-docker-/docker",
    "____/____",
    "_docker/_docker",
    "dock..er/docker",
    "dock_.er/docker",
    "dock-.er/docker",
    "docker/",
    "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_"
    "namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_"
    "lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_"
    "255/docker",
    # more refusals Docker users meet
    "",
    "busybox:",
    "busybox@",
    "busybox:tag:tag",
    "busybox:-tag",
    "busybox:" + "t" * 129,
    "busy box",
    "busybox@sha256:abc",
    f"busybox@md5:{F64}",
    "busybox@sha256:" + "A" * 64,
    "/busybox",
    "busybox/",
    "localhost:/busybox",
    "exämple.com/busybox",
    "busybox:tâg",
]


def _check_valid_names(name):
    parse_normalized_named(name)


def test_valid_names():
    each([(v,) for v in VALID_NAMES], _check_valid_names)


def _check_invalid_names(name):
    with pytest.raises(InvalidReference):
        parse_normalized_named(name)


def test_invalid_names():
    each([(v,) for v in INVALID_NAMES], _check_invalid_names)


# --- normalisation and the familiar form --------------------------------------------
# (domain, path, familiar name, full name, other spellings that mean the same)
REPO_INFO = [
    ("docker.io", "fooo/bar", "fooo/bar", "docker.io/fooo/bar", ["index.docker.io/fooo/bar"]),
    ("docker.io", "library/ubuntu", "ubuntu", "docker.io/library/ubuntu", ["library/ubuntu"]),
    ("docker.io", "nonlibrary/ubuntu", "nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu", []),
    ("docker.io", "other/library", "other/library", "docker.io/other/library", []),
    (
        "127.0.0.1:8000",
        "private/moonbase",
        "127.0.0.1:8000/private/moonbase",
        "127.0.0.1:8000/private/moonbase",
        [],
    ),
    (
        "127.0.0.1:8000",
        "privatebase",
        "127.0.0.1:8000/privatebase",
        "127.0.0.1:8000/privatebase",
        [],
    ),
    (
        "example.com",
        "private/moonbase",
        "example.com/private/moonbase",
        "example.com/private/moonbase",
        [],
    ),
    ("example.com", "privatebase", "example.com/privatebase", "example.com/privatebase", []),
    (
        "example.com:8000",
        "private/moonbase",
        "example.com:8000/private/moonbase",
        "example.com:8000/private/moonbase",
        [],
    ),
    (
        "example.com:8000",
        "privatebasee",
        "example.com:8000/privatebasee",
        "example.com:8000/privatebasee",
        [],
    ),
    (
        "docker.io",
        "library/ubuntu-12.04-base",
        "ubuntu-12.04-base",
        "docker.io/library/ubuntu-12.04-base",
        ["index.docker.io/library/ubuntu-12.04-base"],
    ),
    ("docker.io", "library/foo", "foo", "docker.io/library/foo", ["docker.io/foo"]),
    ("docker.io", "library/foo/bar", "library/foo/bar", "docker.io/library/foo/bar", []),
    ("docker.io", "store/foo/bar", "store/foo/bar", "docker.io/store/foo/bar", []),
    ("Foo", "bar", "Foo/bar", "Foo/bar", []),
    ("FOO", "bar", "FOO/bar", "FOO/bar", []),
    ("localhost", "foo", "localhost/foo", "localhost/foo", []),
    ("localhost:5000", "x/y", "localhost:5000/x/y", "localhost:5000/x/y", []),
]


def _check_repository_info(domain, path, familiar, full, others):
    for text in [familiar, full, *others]:
        ref = parse_normalized_named(text)
        assert (ref.domain, ref.path) == (domain, path), text
        assert ref.name == full
        assert str(ref) == full
        assert ref.familiar_name == familiar
        assert ref.familiar() == familiar


def test_repository_info():
    each(REPO_INFO, _check_repository_info)


SPLIT = [
    ("test.com/foo", "test.com", "foo"),
    ("test_com/foo", "docker.io", "test_com/foo"),
    ("docker/migrator", "docker.io", "docker/migrator"),
    ("test.com:8080/foo", "test.com:8080", "foo"),
    ("test-com:8080/foo", "test-com:8080", "foo"),
    ("foo", "docker.io", "library/foo"),
    ("xn--n3h.com/foo", "xn--n3h.com", "foo"),
    ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
    ("docker.io/foo", "docker.io", "library/foo"),
    ("docker.io/library/foo", "docker.io", "library/foo"),
    ("docker.io/library/foo/bar", "docker.io", "library/foo/bar"),
    ("localhost/foo", "localhost", "foo"),
    ("localhost", "docker.io", "library/localhost"),
]


def _check_normalized_split(text, domain, path):
    ref = parse_normalized_named(text)
    assert (ref.domain, ref.path) == (domain, path)


def test_normalized_split():
    each(SPLIT, _check_normalized_split)


def test_split_docker_domain():
    assert split_docker_domain("busybox:1") == ("docker.io", "library/busybox:1")
    assert split_docker_domain("index.docker.io/u/r") == ("docker.io", "u/r")
    assert split_docker_domain("Host/r") == ("Host", "r")


# --- parse_reference: what docker pull/run/tag do ------------------------------------
PULL = [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("user/repo", "docker.io/user/repo:latest", "user/repo:latest"),
    ("localhost:5000/x", "localhost:5000/x:latest", "localhost:5000/x:latest"),
    ("localhost/x:t", "localhost/x:t", "localhost/x:t"),
    ("127.0.0.1:5000/a/b:c", "127.0.0.1:5000/a/b:c", "127.0.0.1:5000/a/b:c"),
    ("[::1]:5000/repo", "[::1]:5000/repo:latest", "[::1]:5000/repo:latest"),
    (f"busybox@{D}", f"docker.io/library/busybox@{D}", f"busybox@{D}"),
    (f"busybox:1@{D}", f"docker.io/library/busybox:1@{D}", f"busybox:1@{D}"),
    ("docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("localhost:5000", "docker.io/library/localhost:5000", "localhost:5000"),
    ("ghcr.io/owner/img:v1", "ghcr.io/owner/img:v1", "ghcr.io/owner/img:v1"),
]


def _check_parse_reference(text, full, familiar):
    ref = parse_reference(text)
    assert str(ref) == full
    assert ref.familiar() == familiar
    assert familiar_string(full) == familiar
    # the full form parses back to itself
    assert parse_reference(full) == ref


def test_parse_reference():
    each(PULL, _check_parse_reference)


def test_default_tag_optional():
    ref = parse_reference("busybox", default_tag=False)
    assert ref.tag is None and str(ref) == "docker.io/library/busybox"


def test_tag_and_digest_kept_and_docker_ref():
    short = "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa"
    ref = parse_reference(short)
    assert str(ref) == "docker.io/library/" + short
    assert ref.tag == "latest" and ref.digest is not None
    assert ref.familiar() == short
    pulled = ref.docker_ref()
    assert pulled.tag is None and pulled.digest == ref.digest
    assert str(parse_reference("busybox", default_tag=False).docker_ref()).endswith(":latest")


ERRORS = [
    ("Busybox", "invalid reference format: repository name (library/Busybox) must be lowercase"),
    (
        "docker/Docker",
        "invalid reference format: repository name (docker/Docker) must be lowercase",
    ),
    ("localhost:5000/Foo:tag", "invalid reference format: repository name (Foo) must be lowercase"),
    ("busybox:", "invalid reference format"),
    ("a" * 64, f"invalid repository name ({'a' * 64}), cannot specify 64-byte hexadecimal strings"),
    ("busybox@sha256:abc", "invalid reference format"),
    ("busybox@sha256:" + "f" * 63, "invalid checksum digest length"),
    ("busybox@sha256:" + "f" * 66, "invalid checksum digest length"),
    ("busybox@sha256:" + "F" * 64, "invalid checksum digest format"),
    (f"busybox@md5:{F64}", "unsupported digest algorithm"),
    ("", "invalid reference format"),
]


def _check_error_messages(text, message):
    with pytest.raises(InvalidReference) as ei:
        parse_reference(text)
    assert str(ei.value) == message
    assert isinstance(ei.value, ValueError)


def test_error_messages():
    each(ERRORS, _check_error_messages)


def test_empty_raw_is_name_empty_but_normalised_is_format():
    # Docker: Parse("") says "must have at least one component"; ParseNormalizedNamed("")
    # goes through "docker.io/library/" which is simply not a reference.
    with pytest.raises(InvalidReference, match="at least one component"):
        parse_raw("")


def test_length_limit_excludes_domain():
    path = "a/" * 127 + "a"  # 255 characters
    ref = parse_reference("registry.example.com:5000/" + path)
    assert len(ref.path) == 255 and len(ref.name) > 255
    with pytest.raises(InvalidReference, match="not be more than 255"):
        parse_reference("registry.example.com/" + path + "b")


# --- ParseAnyReference, ParseNamed, tags --------------------------------------------
ANY = [
    ("redis", "docker.io/library/redis"),
    ("redis:latest", "docker.io/library/redis:latest"),
    ("docker.io/library/redis:latest", "docker.io/library/redis:latest"),
    (f"redis@{REDIS_D}", f"docker.io/library/redis@{REDIS_D}"),
    (f"docker.io/library/redis@{REDIS_D}", f"docker.io/library/redis@{REDIS_D}"),
    ("dmcgowan/myapp", "docker.io/dmcgowan/myapp"),
    ("dmcgowan/myapp:latest", "docker.io/dmcgowan/myapp:latest"),
    ("docker.io/mcgowan/myapp:latest", "docker.io/mcgowan/myapp:latest"),
    (f"dmcgowan/myapp@{REDIS_D}", f"docker.io/dmcgowan/myapp@{REDIS_D}"),
    (f"docker.io/dmcgowan/myapp@{REDIS_D}", f"docker.io/dmcgowan/myapp@{REDIS_D}"),
    (REDIS_D[7:], REDIS_D),
    (REDIS_D, REDIS_D),
    (REDIS_D[7:-1], "docker.io/library/" + REDIS_D[7:-1]),
    ("dbcc1", "docker.io/library/dbcc1"),
]


def _check_parse_any(text, equivalent):
    got = parse_any(text)
    assert str(got) == equivalent
    if equivalent.startswith("sha256:"):
        assert isinstance(got, str)
    else:
        assert isinstance(got, Reference)


def test_parse_any():
    each(ANY, _check_parse_any)


def test_parse_named_requires_canonical():
    assert str(parse_named("docker.io/library/busybox:1")) == "docker.io/library/busybox:1"
    with pytest.raises(InvalidReference, match="canonical"):
        parse_named("busybox:1")


WITH_TAG = [
    ("test.com/foo", None, "tag", "test.com/foo:tag"),
    ("foo", None, "tag2", "foo:tag2"),
    ("test.com:8000/foo", None, "tag4", "test.com:8000/foo:tag4"),
    ("test.com:8000/foo", None, "TAG5", "test.com:8000/foo:TAG5"),
    ("test.com:8000/foo", D, "TAG5", f"test.com:8000/foo:TAG5@{D}"),
]


def _check_with_tag(name, digest, tag, combined):
    ref = parse_raw(name)
    if digest:
        ref = ref.with_digest(digest)
    assert str(ref.with_tag(tag)) == combined


def test_with_tag():
    each(WITH_TAG, _check_with_tag)


def test_with_tag_and_digest_invalid():
    ref = parse_reference("busybox")
    with pytest.raises(InvalidReference, match="invalid tag format"):
        ref.with_tag("-foo")
    with pytest.raises(InvalidReference, match="invalid digest format"):
        ref.with_digest("foo")
    assert ref.with_tag("1.0").familiar() == "busybox:1.0"
    assert str(ref.trimmed()) == "docker.io/library/busybox"


def _check_valid_tags(tag):
    assert validate_tag(tag) == tag


def test_valid_tags():
    each([(v,) for v in ["latest", "1.0", "v1_2-3", "_x", "A" * 128]], _check_valid_tags)


def _check_invalid_tags(tag):
    with pytest.raises(InvalidReference):
        validate_tag(tag)


def test_invalid_tags():
    each([(v,) for v in ["", ".x", "-x", "a" * 129, "a/b", "a:b", "tåg"]], _check_invalid_tags)


def test_domains_and_registry_host():
    assert is_valid_domain("localhost:5000") and is_valid_domain("[::1]:80")
    assert not is_valid_domain("-bad") and not is_valid_domain("a:b")
    assert parse_reference("busybox").registry == "registry-1.docker.io"
    assert parse_reference("localhost:5000/x").registry == "localhost:5000"


def test_pathological_inputs_are_fast():
    hostile = [
        "a" * 4000 + "!",
        "a-" * 2000 + "!",
        "a." * 2000 + "!",
        "a/" * 2000 + "!",
        "[" + ":" * 4000,
        "a.a-" * 1000 + "/x!",
        "a" * 2000 + "@sha256:" + "f" * 1000 + "!",
        "x" * 100_000,
    ]
    start = time.perf_counter()
    for text in hostile:
        with pytest.raises(InvalidReference):
            parse_reference(text)
    assert time.perf_counter() - start < 0.5


def test_table_is_large_enough():
    total = len(RAW) + len(VALID_NAMES) + len(INVALID_NAMES) + len(REPO_INFO) + len(PULL)
    assert total >= 60
