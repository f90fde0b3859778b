"""Manifests, indexes, descriptors, media types and digests."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from tables import each

from dockyard.image import mediatypes as mt
from dockyard.image.manifest import (
    EMPTY_DESCRIPTOR,
    MAX_MANIFEST_SIZE,
    Descriptor,
    DigestMismatch,
    ImageIndex,
    ImageManifest,
    InvalidDigest,
    InvalidManifest,
    Schema1Unsupported,
    UnsupportedMediaType,
    build_image_manifest,
    build_index,
    canonical_json,
    compute_digest,
    detect_media_type,
    digest_algorithm,
    digest_hex,
    parse_descriptor,
    parse_manifest,
    sha256_digest,
    validate_digest,
    verify_digest,
)
from dockyard.image.platform import Platform

pytestmark = pytest.mark.unit



H = "sha256:" + "a" * 64
H2 = "sha256:" + "b" * 64
H3 = "sha256:" + "c" * 64

# A Docker v2 schema 2 manifest laid out as distribution writes it (3-space indent).
DOCKER_MANIFEST = (
    "{\n"
    '   "schemaVersion": 2,\n'
    '   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",\n'
    '   "config": {\n'
    '      "mediaType": "application/vnd.docker.container.image.v1+json",\n'
    '      "size": 1457,\n'
    f'      "digest": "{H}"\n'
    "   },\n"
    '   "layers": [\n'
    "      {\n"
    '         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",\n'
    '         "size": 2592863,\n'
    f'         "digest": "{H2}"\n'
    "      }\n"
    "   ]\n"
    "}"
).encode()

OCI_INDEX = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": H,
                "size": 610,
                "platform": {"architecture": "amd64", "os": "linux"},
            },
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": H2,
                "size": 610,
                "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
            },
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": H3,
                "size": 566,
                "annotations": {
                    "vnd.docker.reference.digest": H,
                    "vnd.docker.reference.type": "attestation-manifest",
                },
                "platform": {"architecture": "unknown", "os": "unknown"},
            },
        ],
        "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
    },
    indent=2,
).encode()


def _oci_manifest(**extra) -> dict:
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": H, "size": 7},
        "layers": [{"mediaType": mt.OCI_LAYER_GZIP, "digest": H2, "size": 32}],
    }
    doc.update(extra)
    return doc


# --- digests ------------------------------------------------------------------------


def test_digest_helpers():
    data = b"hello"
    hexd = hashlib.sha256(data).hexdigest()
    assert sha256_digest(data) == "sha256:" + hexd
    assert compute_digest(data) == "sha256:" + hexd
    assert compute_digest(data, "sha512") == "sha512:" + hashlib.sha512(data).hexdigest()
    assert digest_hex("sha256:" + hexd) == hexd
    assert digest_algorithm("sha512:" + "0" * 128) == "sha512"
    verify_digest(data, "sha256:" + hexd)
    verify_digest(data, compute_digest(data, "sha512"))
    with pytest.raises(DigestMismatch, match=r"expected sha256:0+, got sha256:"):
        verify_digest(data, "sha256:" + "0" * 64)
    with pytest.raises(InvalidDigest):
        compute_digest(data, "md5")


def _check_validate_digest(digest, error):
    if error is None:
        assert validate_digest(digest) == digest
    else:
        with pytest.raises(InvalidDigest) as ei:
            validate_digest(digest)
        assert str(ei.value) == error


def test_validate_digest():
    each(
        [
            ("sha256:" + "0" * 64, None),
            ("sha512:" + "0" * 128, None),
            ("sha384:" + "0" * 96, None),
            ("sha256:" + "0" * 63, "invalid checksum digest length"),
            ("sha256:" + "0" * 65, "invalid checksum digest length"),
            ("sha512:" + "0" * 64, "invalid checksum digest length"),
            ("sha256:" + "A" * 64, "invalid checksum digest format"),
            ("sha256:" + "g" * 64, "invalid checksum digest format"),
            ("md5:" + "0" * 32, "unsupported digest algorithm"),
            ("blake3:" + "0" * 64, "unsupported digest algorithm"),
            ("SHA256:" + "0" * 64, "invalid checksum digest format"),
            ("sha256", "invalid checksum digest format"),
            (":" + "0" * 64, "invalid checksum digest format"),
            ("sha256:", "invalid checksum digest format"),
            ("", "invalid checksum digest format"),
        ],
        _check_validate_digest,
    )


# --- parsing ------------------------------------------------------------------------


def test_docker_manifest_keeps_exact_bytes():
    m = parse_manifest(DOCKER_MANIFEST)
    assert isinstance(m, ImageManifest) and m.is_docker
    assert m.media_type == mt.DOCKER_MANIFEST
    assert m.raw == DOCKER_MANIFEST
    assert m.digest == "sha256:" + hashlib.sha256(DOCKER_MANIFEST).hexdigest()
    assert m.size == len(DOCKER_MANIFEST)
    assert m.config == Descriptor(mt.DOCKER_CONFIG, H, 1457)
    assert [layer.size for layer in m.layers] == [2592863]
    assert m.layers[0].media_type == mt.DOCKER_LAYER
    # by-digest fetch is verified before anything else
    parse_manifest(DOCKER_MANIFEST, expected_digest=m.digest)
    with pytest.raises(DigestMismatch):
        parse_manifest(DOCKER_MANIFEST + b" ", expected_digest=m.digest)


def test_oci_index_with_attestation():
    idx = parse_manifest(OCI_INDEX, "application/vnd.oci.image.index.v1+json")
    assert isinstance(idx, ImageIndex) and not idx.is_docker
    assert len(idx.manifests) == 3
    assert idx.manifests[1].platform == Platform("linux", "arm64", "v8")
    assert idx.annotations["org.opencontainers.image.created"] == "2024-01-01T00:00:00Z"
    assert idx.platforms()[0] == Platform("linux", "amd64")
    assert idx.digest == sha256_digest(OCI_INDEX)


def test_docker_manifest_list():
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST_LIST,
        "manifests": [
            {
                "mediaType": mt.DOCKER_MANIFEST,
                "digest": H,
                "size": 527,
                "platform": {
                    "architecture": "arm",
                    "os": "linux",
                    "variant": "v7",
                    "features": ["sse4"],
                },
            }
        ],
    }
    idx = parse_manifest(json.dumps(doc).encode())
    assert isinstance(idx, ImageIndex) and idx.is_docker
    assert idx.manifests[0].platform == Platform("linux", "arm", "v7")


def _check_detect_media_type(doc, content_type, expected):
    assert detect_media_type(doc, content_type) == expected


def test_detect_media_type():
    each(
        [
            ({"mediaType": mt.DOCKER_MANIFEST}, None, mt.DOCKER_MANIFEST),
            ({"mediaType": mt.OCI_INDEX}, mt.OCI_MANIFEST, mt.OCI_INDEX),  # the body wins
            ({"config": {}}, mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST),
            (
                {"manifests": []},
                mt.DOCKER_MANIFEST_LIST + "; charset=utf-8",
                mt.DOCKER_MANIFEST_LIST,
            ),
            ({"config": {}}, "Application/Vnd.Oci.Image.Manifest.v1+JSON", mt.OCI_MANIFEST),
            ({"manifests": []}, None, mt.OCI_INDEX),
            ({"config": {}, "layers": []}, "application/json", mt.OCI_MANIFEST),
            ({"layers": []}, "application/octet-stream", mt.OCI_MANIFEST),
            ({"schemaVersion": 1, "fsLayers": []}, None, mt.DOCKER_SCHEMA1_MANIFEST),
            ({"config": {}}, "text/html", "text/html"),
        ],
        _check_detect_media_type,
    )


def test_oci_manifest_without_media_type_field():
    doc = _oci_manifest()
    del doc["mediaType"]
    raw = json.dumps(doc).encode()
    m = parse_manifest(raw)
    assert isinstance(m, ImageManifest) and m.media_type == mt.OCI_MANIFEST
    m = parse_manifest(raw, mt.DOCKER_MANIFEST)
    assert m.media_type == mt.DOCKER_MANIFEST


def test_schema1_refused_clearly():
    for data, ct in [
        (b'{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}', None),
        (b'{"schemaVersion":1}', mt.DOCKER_SCHEMA1_SIGNED_MANIFEST),
        (json.dumps({"schemaVersion": 1, "mediaType": mt.DOCKER_SCHEMA1_MANIFEST}).encode(), None),
    ]:
        with pytest.raises(Schema1Unsupported) as ei:
            parse_manifest(data, ct)
        assert "schema 1" in str(ei.value) and "not supported" in str(ei.value)
        assert isinstance(ei.value, UnsupportedMediaType)


def test_unknown_media_type_is_named():
    data = json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.cncf.helm.config"}
    ).encode()
    with pytest.raises(UnsupportedMediaType) as ei:
        parse_manifest(data)
    assert ei.value.media_type == "application/vnd.cncf.helm.config"
    assert "application/vnd.cncf.helm.config" in str(ei.value)
    with pytest.raises(UnsupportedMediaType, match="text/html"):
        parse_manifest(b'{"schemaVersion":2,"config":{}}', "text/html; charset=utf-8")


BAD = [
    (b"\xff\xfe", "not UTF-8"),
    (b"{", "not valid JSON"),
    (b"[]", "must be a JSON object"),
    (b"{}", "cannot tell"),
    (json.dumps(_oci_manifest(schemaVersion=3)).encode(), "schemaVersion: expected 2"),
    (json.dumps(_oci_manifest(schemaVersion=True)).encode(), "schemaVersion"),
    (json.dumps(_oci_manifest(schemaVersion="2")).encode(), "schemaVersion"),
    (json.dumps(_oci_manifest(config=None)).encode(), "config: required"),
    (json.dumps(_oci_manifest(layers=None)).encode(), "layers: expected an array"),
    (json.dumps(_oci_manifest(layers={})).encode(), "layers: expected an array"),
    (json.dumps(_oci_manifest(manifests=[])).encode(), "must not have 'manifests'"),
    (json.dumps(_oci_manifest(annotations={"a": 1})).encode(), "annotations['a']"),
    (json.dumps(_oci_manifest(annotations=[])).encode(), "annotations: expected an object"),
    (json.dumps(_oci_manifest(artifactType=5)).encode(), "artifactType"),
    (
        json.dumps(_oci_manifest(config={"mediaType": mt.OCI_CONFIG, "digest": H})).encode(),
        "config.size: expected an integer",
    ),
    (
        json.dumps(
            _oci_manifest(config={"mediaType": mt.OCI_CONFIG, "digest": H, "size": -1})
        ).encode(),
        "must not be negative",
    ),
    (
        json.dumps(
            _oci_manifest(config={"mediaType": mt.OCI_CONFIG, "digest": H, "size": 1.5})
        ).encode(),
        "config.size",
    ),
    (
        json.dumps(
            _oci_manifest(config={"mediaType": mt.OCI_CONFIG, "digest": H, "size": True})
        ).encode(),
        "config.size",
    ),
    (
        json.dumps(
            _oci_manifest(config={"mediaType": mt.OCI_CONFIG, "digest": "sha256:ab", "size": 1})
        ).encode(),
        "config.digest: invalid checksum digest length",
    ),
    (
        json.dumps(_oci_manifest(config={"mediaType": "", "digest": H, "size": 1})).encode(),
        "config.mediaType",
    ),
    (
        json.dumps(
            _oci_manifest(config={"mediaType": "not a type", "digest": H, "size": 1})
        ).encode(),
        "invalid media type",
    ),
    (
        json.dumps(
            _oci_manifest(
                layers=[{"mediaType": mt.OCI_LAYER, "digest": H, "size": 1, "urls": "http://x"}]
            )
        ).encode(),
        "layers[0].urls",
    ),
    (
        json.dumps(
            _oci_manifest(
                layers=[
                    {"mediaType": mt.OCI_LAYER, "digest": H, "size": 1, "platform": {"os": "linux"}}
                ]
            )
        ).encode(),
        "layers[0].platform",
    ),
    (
        json.dumps(_oci_manifest(config=EMPTY_DESCRIPTOR.to_json())).encode(),
        "artifactType: required",
    ),
    (
        json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": {}}).encode(),
        "manifests: expected an array",
    ),
    (
        json.dumps(
            {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [], "config": {}}
        ).encode(),
        "must not have 'config'",
    ),
    (
        json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [1]}).encode(),
        "manifests[0]: expected an object",
    ),
    (json.dumps(_oci_manifest(subject={"digest": H})).encode(), "subject.mediaType"),
]


def _check_invalid_manifests(data, message):
    with pytest.raises(InvalidManifest) as ei:
        parse_manifest(data)
    assert message in str(ei.value)


def test_invalid_manifests():
    each(BAD, _check_invalid_manifests)


def test_manifest_size_limit():
    pad = " " * (MAX_MANIFEST_SIZE + 1 - len(DOCKER_MANIFEST))
    with pytest.raises(InvalidManifest, match="over the limit"):
        parse_manifest(DOCKER_MANIFEST + pad.encode())


def test_descriptor_fields_and_embedded_data():
    obj = {
        "mediaType": mt.OCI_EMPTY,
        "digest": EMPTY_DESCRIPTOR.digest,
        "size": 2,
        "data": "e30=",
        "urls": ["https://example.com/blob"],
        "annotations": {"k": "v"},
        "artifactType": "application/vnd.example",
        "platform": {"architecture": "amd64", "os": "linux"},
    }
    d = parse_descriptor(obj)
    assert d.data == b"{}" and d.urls == ("https://example.com/blob",)
    assert d.annotations == {"k": "v"} and d.artifact_type == "application/vnd.example"
    assert d.to_json() == {**obj, "platform": {"architecture": "amd64", "os": "linux"}}
    assert sha256_digest(b"{}") == EMPTY_DESCRIPTOR.digest
    for bad, msg in [
        ({**obj, "data": "e30"}, "invalid base64"),
        ({**obj, "data": base64.b64encode(b"{ }").decode()}, "3 bytes but size is 2"),
        ({**obj, "data": base64.b64encode(b"[]").decode()}, "digest mismatch"),
    ]:
        with pytest.raises(InvalidManifest, match=msg):
            parse_descriptor(bad)
    hash(d)  # descriptors can key dicts and sets


def test_subject_and_artifact_type():
    doc = _oci_manifest(
        artifactType="application/vnd.example.sbom",
        config=EMPTY_DESCRIPTOR.to_json(),
        subject={"mediaType": mt.OCI_MANIFEST, "digest": H3, "size": 100},
    )
    m = parse_manifest(json.dumps(doc).encode())
    assert isinstance(m, ImageManifest)
    assert m.subject == Descriptor(mt.OCI_MANIFEST, H3, 100)
    assert m.artifact_type == "application/vnd.example.sbom"


# --- construction -------------------------------------------------------------------


def test_build_oci_manifest_canonical_bytes():
    config = Descriptor.for_bytes(mt.OCI_CONFIG, b'{"architecture":"amd64"}')
    layer = Descriptor(mt.OCI_LAYER_GZIP, H2, 32)
    m = build_image_manifest(config, [layer], annotations={"b": "2", "a": "1"})
    expected = (
        '{"annotations":{"a":"1","b":"2"},'
        f'"config":{{"digest":"{config.digest}","mediaType":"{mt.OCI_CONFIG}","size":24}},'
        f'"layers":[{{"digest":"{H2}","mediaType":"{mt.OCI_LAYER_GZIP}","size":32}}],'
        f'"mediaType":"{mt.OCI_MANIFEST}","schemaVersion":2}}'
    ).encode()
    assert m.raw == expected
    assert m.digest == sha256_digest(expected)
    again = parse_manifest(m.raw, expected_digest=m.digest)
    assert again == m
    # the same inputs give the same bytes
    assert build_image_manifest(config, [layer], annotations={"a": "1", "b": "2"}).raw == m.raw


def test_build_docker_manifest_and_list():
    config = Descriptor(mt.DOCKER_CONFIG, H, 10)
    m = build_image_manifest(
        config, [Descriptor(mt.DOCKER_LAYER, H2, 20)], media_type=mt.DOCKER_MANIFEST
    )
    doc = json.loads(m.raw)
    assert doc["mediaType"] == mt.DOCKER_MANIFEST and doc["schemaVersion"] == 2
    assert "annotations" not in doc
    with pytest.raises(ValueError, match="Docker schema 2"):
        build_image_manifest(config, [], media_type=mt.DOCKER_MANIFEST, annotations={"a": "b"})
    with pytest.raises(UnsupportedMediaType):
        build_image_manifest(config, [], media_type=mt.OCI_INDEX)
    lst = build_index(
        [m.descriptor(Platform("linux", "amd64"))], media_type=mt.DOCKER_MANIFEST_LIST
    )
    assert json.loads(lst.raw)["manifests"][0]["platform"] == {
        "architecture": "amd64",
        "os": "linux",
    }
    assert parse_manifest(lst.raw) == lst
    with pytest.raises(ValueError, match="needs a platform"):
        build_index([m.descriptor()], media_type=mt.DOCKER_MANIFEST_LIST)


def test_build_index_round_trip_and_artifacts():
    m1 = build_image_manifest(Descriptor(mt.OCI_CONFIG, H, 1), [])
    idx = build_index([m1.descriptor(Platform("linux", "arm", "v7"))], annotations={"x": "y"})
    again = parse_manifest(idx.raw)
    assert again == idx and again.descriptor().digest == idx.digest
    with pytest.raises(ValueError, match="artifactType is required"):
        build_image_manifest(EMPTY_DESCRIPTOR, [])
    art = build_image_manifest(
        EMPTY_DESCRIPTOR, [], artifact_type="application/vnd.x", subject=m1.descriptor()
    )
    assert parse_manifest(art.raw).subject == m1.descriptor()


def test_canonical_json():
    assert canonical_json({"b": 1, "a": [1, {"d": "é", "c": None}]}) == (
        '{"a":[1,{"c":null,"d":"é"}],"b":1}'.encode()
    )
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})
    with pytest.raises(ValueError):
        canonical_json({"x": "\ud800"})


# --- media types --------------------------------------------------------------------


def test_media_type_helpers():
    assert mt.layer_compression(mt.OCI_LAYER) == ""
    assert mt.layer_compression(mt.DOCKER_LAYER) == "gzip"
    assert mt.layer_compression(mt.OCI_LAYER_ZSTD) == "zstd"
    assert mt.layer_compression(mt.OCI_LAYER_NONDISTRIBUTABLE_GZIP) == "gzip"
    assert mt.layer_compression(mt.DOCKER_LAYER_FOREIGN) == "gzip"
    with pytest.raises(UnsupportedMediaType) as ei:
        mt.layer_compression("application/vnd.oci.image.layer.v1.tar+encrypted")
    assert "tar+encrypted" in str(ei.value)
    assert mt.is_foreign_layer(mt.DOCKER_LAYER_FOREIGN)
    assert mt.is_foreign_layer(mt.OCI_LAYER_NONDISTRIBUTABLE)
    assert not mt.is_foreign_layer(mt.OCI_LAYER_GZIP)
    assert mt.is_index(mt.DOCKER_MANIFEST_LIST) and mt.is_index(mt.OCI_INDEX)
    assert mt.is_image_manifest(mt.DOCKER_MANIFEST) and not mt.is_index(mt.OCI_MANIFEST)
    assert mt.is_manifest(mt.OCI_INDEX) and not mt.is_manifest(mt.OCI_CONFIG)
    assert mt.is_config(mt.DOCKER_CONFIG) and mt.is_layer(mt.DOCKER_LAYER_UNCOMPRESSED)
    assert mt.layer_media_type("gzip") == mt.OCI_LAYER_GZIP
    assert mt.layer_media_type("gzip", docker=True) == mt.DOCKER_LAYER
    assert mt.layer_media_type("", docker=True) == mt.DOCKER_LAYER_UNCOMPRESSED
    assert mt.layer_media_type("zstd", docker=True) == mt.OCI_LAYER_ZSTD
    with pytest.raises(ValueError):
        mt.layer_media_type("bzip2")
    assert mt.base_type(" Application/JSON ; charset=utf-8") == "application/json"
    assert mt.ACCEPT_MANIFESTS[0] == mt.OCI_INDEX and len(set(mt.ACCEPT_MANIFESTS)) == 4
    assert mt.OCI_LAYER_GZIP == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert mt.DOCKER_MANIFEST == "application/vnd.docker.distribution.manifest.v2+json"
