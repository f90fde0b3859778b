"""Image configs: parsing, canonical bytes, image and chain IDs, --change, inspect JSON."""

from __future__ import annotations

import hashlib
import json

import pytest
from tables import each

from dockyard.image.changes import (
    InvalidChange,
    apply_changes,
    parse_go_duration,
    validate_signal,
    with_changes,
)
from dockyard.image.config import (
    HealthConfig,
    HistoryEntry,
    ImageConfig,
    InvalidConfig,
    RunConfig,
    chain_id,
    chain_ids,
    format_time,
    new_image_config,
    normalize_time,
    parse_image_config,
    parse_run_config,
    parse_time,
)
from dockyard.image.inspect import inspect_json
from dockyard.image.manifest import InvalidDigest

pytestmark = pytest.mark.unit



L0 = "sha256:4fbec69b941195fd56f8212a5000e304129451d82efca94ff0e0fb2d5355472e"  # "layer0"
L1 = "sha256:77ea7eee3d80b1a38f83906dd3048e2689457eb90e18a7d12f839c5ae37106a2"  # "layer1"
L2 = "sha256:95cf1a2e1698fe3ca1fcc3f653119146b271d0b62e487ec264441e886a11bd06"  # "layer2"

# A config as Docker 20.10's builder wrote them (busybox on Docker Hub had this shape).
DOCKER_CONFIG = json.dumps(
    {
        "architecture": "amd64",
        "config": {
            "Hostname": "",
            "Domainname": "",
            "User": "",
            "AttachStdin": False,
            "AttachStdout": False,
            "AttachStderr": False,
            "Tty": False,
            "OpenStdin": False,
            "StdinOnce": False,
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
            "Image": "sha256:" + "1" * 64,
            "Volumes": None,
            "WorkingDir": "",
            "Entrypoint": None,
            "OnBuild": None,
            "Labels": None,
        },
        "container": "a" * 64,
        "container_config": {
            "Hostname": "abc",
            "Env": ["PATH=/bin"],
            "Cmd": ["/bin/sh", "-c", '#(nop) CMD ["sh"]'],
            "Labels": {},
        },
        "created": "2023-07-18T23:19:33.655005962Z",
        "docker_version": "20.10.23",
        "history": [
            {
                "created": "2023-07-18T23:19:33.538571854Z",
                "created_by": "/bin/sh -c #(nop) ADD file:7e9002edaafd4e4579 in / ",
            },
            {
                "created": "2023-07-18T23:19:33.655005962Z",
                "created_by": '/bin/sh -c #(nop)  CMD ["sh"]',
                "empty_layer": True,
            },
        ],
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [L0]},
    },
    separators=(",", ":"),
).encode()

OCI_CONFIG = json.dumps(
    {
        "created": "2024-01-02T03:04:05+01:00",
        "author": "someone",
        "architecture": "arm64",
        "variant": "v8",
        "os": "linux",
        "config": {
            "User": "1000:1000",
            "ExposedPorts": {"8080/tcp": {}},
            "Env": ["A=1"],
            "Entrypoint": ["/app"],
            "Cmd": "--serve",
            "Volumes": {"/data": {}},
            "WorkingDir": "/srv",
            "Labels": {"org.opencontainers.image.title": "app"},
            "StopSignal": "SIGINT",
            "ArgsEscaped": True,
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 30000000000, "Retries": 3},
            "OnBuild": ["RUN x"],
            "Shell": ["/bin/bash", "-c"],
            "x-custom": 1,
        },
        "rootfs": {"type": "layers", "diff_ids": [L0, L1]},
        "history": [{"created_by": "a"}, {"created_by": "b", "comment": "last"}],
        "moby.buildkit.buildinfo.v1": "e30=",
    },
    indent=4,
).encode()


# --- parsing ------------------------------------------------------------------------


def test_docker_config_parses_and_image_id_is_over_exact_bytes():
    cfg = parse_image_config(DOCKER_CONFIG)
    assert cfg.image_id == "sha256:" + hashlib.sha256(DOCKER_CONFIG).hexdigest()
    assert cfg.architecture == "amd64" and cfg.os == "linux"
    assert cfg.config is not None and cfg.config.cmd == ["sh"]
    assert cfg.config.entrypoint is None and cfg.config.volumes is None
    assert cfg.container_config is not None and cfg.container_config.labels == {}
    assert cfg.history[1].empty_layer and not cfg.history[0].empty_layer
    assert cfg.diff_ids == [L0] and cfg.chain_id() == L0
    assert cfg.created_timestamp == 1689722373
    # re-serialising gives other bytes, but the same document
    assert cfg.to_bytes() != DOCKER_CONFIG
    again = parse_image_config(cfg.to_bytes())
    assert again.to_json() == cfg.to_json()


def test_oci_config_fields_and_unknowns_kept():
    cfg = parse_image_config(OCI_CONFIG)
    rc = cfg.config
    assert rc is not None
    assert rc.cmd == ["--serve"]  # a string is a one-element StrSlice, as Docker reads it
    assert rc.exposed_ports == {"8080/tcp": {}} and rc.volumes == {"/data": {}}
    assert rc.healthcheck == HealthConfig(["CMD", "true"], interval=30_000_000_000, retries=3)
    assert rc.shell == ["/bin/bash", "-c"] and rc.on_build == ["RUN x"] and rc.args_escaped
    assert rc.extra == {"x-custom": 1}
    assert cfg.extra == {"moby.buildkit.buildinfo.v1": "e30="}
    out = cfg.to_json()
    assert out["moby.buildkit.buildinfo.v1"] == "e30=" and out["config"]["x-custom"] == 1
    assert rc.env_map() == {"A": "1"}
    assert cfg.platform_string() == "linux/arm64/v8"


def test_run_config_field_names_any_case():
    rc = parse_run_config({"env": ["A=1"], "Env": ["B=2"], "cmd": ["x"]})
    assert rc.env == ["B=2"] and rc.cmd == ["x"]


BAD_CONFIGS = [
    (b"[]", "must be a JSON object"),
    (b"{", "not valid JSON"),
    (b"\xff", "not UTF-8"),
    (b"{}", "no RootFS key"),
    (b'{"rootfs":[]}', "rootfs: expected an object"),
    (b'{"rootfs":{"type":"layers+base"}}', "unsupported type"),
    (b'{"rootfs":{"type":"layers","diff_ids":["sha256:x"]}}', "rootfs.diff_ids[0]"),
    (b'{"rootfs":{"type":"layers","diff_ids":"x"}}', "rootfs.diff_ids"),
    (b'{"rootfs":{"type":"layers"},"architecture":1}', "architecture: expected a string"),
    (b'{"rootfs":{"type":"layers"},"created":"yesterday"}', "created: invalid RFC 3339"),
    (b'{"rootfs":{"type":"layers"},"created":"2023-02-30T00:00:00Z"}', "created"),
    (b'{"rootfs":{"type":"layers"},"config":[]}', "config: expected an object"),
    (b'{"rootfs":{"type":"layers"},"config":{"Env":"A=1"}}', "config.Env"),
    (b'{"rootfs":{"type":"layers"},"config":{"Cmd":[1]}}', "config.Cmd"),
    (b'{"rootfs":{"type":"layers"},"config":{"Labels":{"a":1}}}', "config.Labels['a']"),
    (
        b'{"rootfs":{"type":"layers"},"config":{"ExposedPorts":{"80/tcp":1}}}',
        "config.ExposedPorts['80/tcp']",
    ),
    (b'{"rootfs":{"type":"layers"},"config":{"Tty":"yes"}}', "config.Tty"),
    (
        b'{"rootfs":{"type":"layers"},"config":{"Healthcheck":{"Retries":"3"}}}',
        "config.Healthcheck.Retries",
    ),
    (b'{"rootfs":{"type":"layers"},"history":{}}', "history: expected an array"),
    (b'{"rootfs":{"type":"layers"},"history":[{"empty_layer":"no"}]}', "history[0].empty_layer"),
    (b'{"rootfs":{"type":"layers"},"history":[{}]}', "too many non-empty layers"),
]


def _check_invalid_configs(data, message):
    with pytest.raises(InvalidConfig) as ei:
        parse_image_config(data)
    assert message in str(ei.value)


def test_invalid_configs():
    each(BAD_CONFIGS, _check_invalid_configs)


def test_layerless_image_and_empty_layer_history():
    cfg = parse_image_config(b'{"rootfs":{"type":"layers"},"history":[{"empty_layer":true}]}')
    assert cfg.diff_ids == [] and cfg.chain_id() == ""


# --- canonical bytes, new configs, IDs ----------------------------------------------


def test_new_config_canonical_bytes():
    cfg = new_image_config(
        architecture="amd64",
        diff_ids=[L0],
        config=RunConfig(cmd=["sh"], env=["PATH=/bin"]),
        created="2024-01-01T00:00:00Z",
        history=[HistoryEntry(created="2024-01-01T00:00:00Z", created_by="import")],
    )
    expected = (
        '{"architecture":"amd64","config":{"Cmd":["sh"],"Env":["PATH=/bin"]},'
        '"created":"2024-01-01T00:00:00Z",'
        '"history":[{"created":"2024-01-01T00:00:00Z","created_by":"import"}],'
        f'"os":"linux","rootfs":{{"diff_ids":["{L0}"],"type":"layers"}}}}'
    ).encode()
    assert cfg.raw == expected and cfg.blob == expected
    assert cfg.image_id == "sha256:" + hashlib.sha256(expected).hexdigest()
    assert parse_image_config(cfg.raw).to_bytes() == expected
    with pytest.raises(InvalidConfig, match="too many non-empty"):
        new_image_config(architecture="amd64", history=[HistoryEntry()])
    with pytest.raises(InvalidDigest):
        new_image_config(architecture="amd64", diff_ids=["nope"])


def test_null_and_empty_are_kept_apart():
    rc = RunConfig(entrypoint=[], cmd=None, labels={})
    assert rc.to_json() == {"Entrypoint": [], "Labels": {}}
    assert parse_run_config(rc.to_json()) == rc


def test_chain_ids_known_values():
    # computed independently: printf '%s %s' "$a" "$b" | sha256sum
    c1 = "sha256:ef232af0eb422cdfd7917631657cd8ed2bfd5b9461b37c427aa0d3e0a19adf79"
    c2 = "sha256:7ad3896338947cc04ee0b35b50d400ff32538d63f42f85ec87feac78bf71a54d"
    assert chain_ids([L0, L1, L2]) == [L0, c1, c2]
    assert chain_id([L0]) == L0
    assert chain_id([L0, L1]) == c1
    assert chain_id([]) == ""
    assert c1 == "sha256:" + hashlib.sha256(f"{L0} {L1}".encode()).hexdigest()
    with pytest.raises(InvalidDigest):
        chain_ids(["sha256:abc"])


# --- times --------------------------------------------------------------------------


def _check_normalize_time(text, go):
    assert normalize_time(text) == go


def test_normalize_time():
    each(
        [
            ("2023-07-18T23:19:33.655005962Z", "2023-07-18T23:19:33.655005962Z"),
            ("2023-07-18T23:19:33.650000000Z", "2023-07-18T23:19:33.65Z"),
            ("2023-07-18T23:19:33.000Z", "2023-07-18T23:19:33Z"),
            ("2023-07-18T23:19:33Z", "2023-07-18T23:19:33Z"),
            ("2023-07-18T23:19:33+00:00", "2023-07-18T23:19:33Z"),
            ("2024-01-02T03:04:05+01:00", "2024-01-02T03:04:05+01:00"),
            ("2024-01-02T03:04:05.1234567891-05:30", "2024-01-02T03:04:05.123456789-05:30"),
        ],
        _check_normalize_time,
    )


def test_times():
    assert format_time(0) == "1970-01-01T00:00:00Z"
    assert format_time(1_689_722_373_655_005_962) == "2023-07-18T23:19:33.655005962Z"
    assert (
        parse_time("2024-01-02T03:04:05.5+01:00").isoformat() == "2024-01-02T03:04:05.500000+01:00"
    )
    for bad in [
        "2024-01-02 03:04:05Z",
        "2024-13-01T00:00:00Z",
        "2024-01-01T00:00:00",
        "2024-01-01T24:00:00Z",
        "2024-01-01T00:00:00+25:00",
    ]:
        with pytest.raises(ValueError):
            parse_time(bad)


# --- --change -----------------------------------------------------------------------

BASE = RunConfig(env=["PATH=/bin", "HOME=/root"], cmd=["sh"], working_dir="/srv")

CHANGES = [
    (['CMD ["/bin/echo", "hi"]'], {"cmd": ["/bin/echo", "hi"]}),
    (["CMD echo $HOME"], {"cmd": ["/bin/sh", "-c", "echo $HOME"]}),
    (["CMD []"], {"cmd": []}),
    (["CMD"], {"cmd": []}),
    (['CMD ["unterminated"'], {"cmd": ["/bin/sh", "-c", '["unterminated"']}),
    (['ENTRYPOINT ["/e"]'], {"entrypoint": ["/e"], "cmd": None}),
    (['CMD ["a"]', 'ENTRYPOINT ["/e"]'], {"entrypoint": ["/e"], "cmd": ["a"]}),
    (['ENTRYPOINT ["/e"]', 'CMD ["a"]'], {"entrypoint": ["/e"], "cmd": ["a"]}),
    (["ENTRYPOINT []"], {"entrypoint": [], "cmd": None}),
    (["ENTRYPOINT run.sh"], {"entrypoint": ["/bin/sh", "-c", "run.sh"], "cmd": None}),
    (["ENV A=1"], {"env": ["PATH=/bin", "HOME=/root", "A=1"]}),
    (["ENV PATH=/usr/bin:$PATH"], {"env": ["PATH=/usr/bin:/bin", "HOME=/root"]}),
    (['ENV A="x y" B=$HOME'], {"env": ["PATH=/bin", "HOME=/root", "A=x y", "B=/root"]}),
    (["ENV A x y  z"], {"env": ["PATH=/bin", "HOME=/root", "A=x y  z"]}),
    (
        ["ENV A=${NOPE:-dflt} B=${HOME:+set} C='$HOME'"],
        {"env": ["PATH=/bin", "HOME=/root", "A=dflt", "B=set", "C=$HOME"]},
    ),
    (["ENV A=a\\ b"], {"env": ["PATH=/bin", "HOME=/root", "A=a b"]}),
    (["ENV A=1 \\", "  B=2"], {"env": ["PATH=/bin", "HOME=/root", "A=1", "B=2"]}),
    (["ENV A=1\nENV B=$A"], {"env": ["PATH=/bin", "HOME=/root", "A=1", "B=1"]}),
    (["EXPOSE 80"], {"exposed_ports": {"80/tcp": {}}}),
    (
        ["EXPOSE 53/udp 8000-8002 9000/SCTP"],
        {
            "exposed_ports": {
                "53/udp": {},
                "8000/tcp": {},
                "8001/tcp": {},
                "8002/tcp": {},
                "9000/sctp": {},
            }
        },
    ),
    (
        ["ENV P=80 Q=81", "EXPOSE $P ${Q}/udp"],
        {
            "exposed_ports": {"80/tcp": {}, "81/udp": {}},
            "env": ["PATH=/bin", "HOME=/root", "P=80", "Q=81"],
        },
    ),
    (
        ['ENV PORTS="1 2"', "EXPOSE $PORTS"],
        {
            "exposed_ports": {"1/tcp": {}, "2/tcp": {}},
            "env": ["PATH=/bin", "HOME=/root", "PORTS=1 2"],
        },
    ),
    (['LABEL a=b "c d"="e f"'], {"labels": {"a": "b", "c d": "e f"}}),
    (["LABEL version 1.0"], {"labels": {"version": "1.0"}}),
    (['ONBUILD RUN echo "hi"'], {"on_build": ['RUN echo "hi"']}),
    (["onbuild add . /app"], {"on_build": ["add . /app"]}),
    (["USER nobody"], {"user": "nobody"}),
    (["USER 1000:1000"], {"user": "1000:1000"}),
    (["VOLUME /data"], {"volumes": {"/data": {}}}),
    (['VOLUME ["/a", "/b"]'], {"volumes": {"/a": {}, "/b": {}}}),
    (["VOLUME /a /b"], {"volumes": {"/a": {}, "/b": {}}}),
    (["WORKDIR /app"], {"working_dir": "/app"}),
    (["WORKDIR sub/../dir"], {"working_dir": "/srv/dir"}),
    (["WORKDIR /a//b/"], {"working_dir": "/a//b/"}),  # absolute paths are kept as given
    (["WORKDIR $HOME/x"], {"working_dir": "/root/x"}),
    (["STOPSIGNAL SIGUSR1"], {"stop_signal": "SIGUSR1"}),
    (["stopsignal 9"], {"stop_signal": "9"}),
    (["HEALTHCHECK NONE"], {"healthcheck": HealthConfig(["NONE"])}),
    (
        ["HEALTHCHECK CMD curl -f http://localhost/"],
        {"healthcheck": HealthConfig(["CMD-SHELL", "curl -f http://localhost/"])},
    ),
    (
        [
            "HEALTHCHECK --interval=5m --timeout=3s --start-period=1m30s --start-interval=500ms "
            '--retries=2 CMD ["true"]'
        ],
        {
            "healthcheck": HealthConfig(
                ["CMD", "true"], 300_000_000_000, 3_000_000_000, 90_000_000_000, 500_000_000, 2
            )
        },
    ),
    (["# a comment", "", "USER a"], {"user": "a"}),
]


def _check_apply_changes(changes, expected):
    before = json.dumps(BASE.to_json())
    out = apply_changes(BASE, changes)
    for attr, value in expected.items():
        assert getattr(out, attr) == value, attr
    untouched = {"user", "working_dir", "env", "labels", "volumes"} - set(expected)
    for attr in untouched:
        assert getattr(out, attr) == getattr(BASE, attr)
    assert json.dumps(BASE.to_json()) == before  # the input is not modified


def test_apply_changes():
    each(CHANGES, _check_apply_changes)


def test_shell_form_uses_image_shell():
    rc = RunConfig(shell=["/bin/bash", "-o", "pipefail", "-c"])
    assert apply_changes(rc, ["CMD echo hi"]).cmd == [
        "/bin/bash",
        "-o",
        "pipefail",
        "-c",
        "echo hi",
    ]


CHANGE_ERRORS = [
    (["RUN echo hi"], "run is not a valid change command", "RUN"),
    (["FROM busybox"], "from is not a valid change command", "FROM"),
    (['SHELL ["/bin/bash"]'], "shell is not a valid change command", "SHELL"),
    (["COPY a b"], "copy is not a valid change command", "COPY"),
    (["ENV"], "ENV requires at least one argument", "ENV"),
    (["ENV A"], "ENV must have two arguments", "ENV"),
    (["ENV A=1 B"], 'Syntax error - can\'t find = in "B". Must be of the form: name=value', "ENV"),
    (["ENV =1"], "ENV names can not be blank", "ENV"),
    (["LABEL"], "LABEL requires at least one argument", "LABEL"),
    (["EXPOSE"], "EXPOSE requires at least one argument", "EXPOSE"),
    (["EXPOSE 80/xyz"], "invalid proto: xyz", "EXPOSE"),
    (["EXPOSE http"], "invalid containerPort: http", "EXPOSE"),
    (["EXPOSE 70000"], "invalid containerPort: 70000", "EXPOSE"),
    (["EXPOSE 90-80"], "invalid containerPort: 90-80", "EXPOSE"),
    (["USER"], "USER requires exactly one argument", "USER"),
    (["WORKDIR"], "WORKDIR requires exactly one argument", "WORKDIR"),
    (["VOLUME"], "VOLUME requires at least one argument", "VOLUME"),
    (['VOLUME [""]'], "VOLUME specified can not be an empty string", "VOLUME"),
    (["STOPSIGNAL"], "STOPSIGNAL requires exactly one argument", "STOPSIGNAL"),
    (["STOPSIGNAL SIGFOO"], "Invalid signal: SIGFOO", "STOPSIGNAL"),
    (["STOPSIGNAL 0"], "Invalid signal: 0", "STOPSIGNAL"),
    (
        ["CMD [1, 2]"],
        "when using JSON array syntax, arrays must be comprised of strings only",
        "CMD",
    ),
    (["CMD --privileged x"], "Unknown flag: privileged", "CMD"),
    (["ONBUILD"], "ONBUILD requires at least one argument", "ONBUILD"),
    (["ONBUILD ONBUILD RUN x"], "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", "ONBUILD"),
    (["ONBUILD FROM x"], "FROM isn't allowed as an ONBUILD trigger", "ONBUILD"),
    (["ONBUILD maintainer me"], "MAINTAINER isn't allowed as an ONBUILD trigger", "ONBUILD"),
    (["HEALTHCHECK"], "HEALTHCHECK requires at least one argument", "HEALTHCHECK"),
    (["HEALTHCHECK NONE x"], "HEALTHCHECK NONE takes no arguments", "HEALTHCHECK"),
    (["HEALTHCHECK --retries=1 NONE"], "HEALTHCHECK NONE takes no arguments", "HEALTHCHECK"),
    (["HEALTHCHECK RUN x"], 'Unknown type "RUN" in HEALTHCHECK (try CMD)', "HEALTHCHECK"),
    (["HEALTHCHECK CMD"], "Missing command after HEALTHCHECK CMD", "HEALTHCHECK"),
    (
        ["HEALTHCHECK --interval=1us CMD x"],
        'Interval "interval" cannot be less than 1ms',
        "HEALTHCHECK",
    ),
    (["HEALTHCHECK --timeout=5 CMD x"], 'time: missing unit in duration "5"', "HEALTHCHECK"),
    (["HEALTHCHECK --retries=-1 CMD x"], "--retries cannot be negative (-1)", "HEALTHCHECK"),
    (["HEALTHCHECK --bogus=1 CMD x"], "Unknown flag: bogus", "HEALTHCHECK"),
    (["ENV A=${B"], "missing '}'", "ENV"),
    (["USER 'x"], "unexpected end of statement while looking for matching single-quote", "USER"),
]


def _check_apply_changes_errors(changes, message, instruction):
    with pytest.raises(InvalidChange) as ei:
        apply_changes(BASE, changes)
    assert str(ei.value) == message
    assert ei.value.instruction == instruction


def test_apply_changes_errors():
    each(CHANGE_ERRORS, _check_apply_changes_errors)


def test_invalid_instruction_is_refused_before_any_change():
    with pytest.raises(InvalidChange, match="run is not a valid change command"):
        apply_changes(BASE, ["USER a", "RUN x"])


def test_apply_changes_on_image_config():
    cfg = parse_image_config(DOCKER_CONFIG)
    out = apply_changes(cfg, ["USER nobody"])
    assert isinstance(out, ImageConfig)
    assert out.config is not None and out.config.user == "nobody"
    assert out.raw == b"" and out.image_id != cfg.image_id
    assert cfg.config is not None and cfg.config.user == ""
    sealed = with_changes(cfg, ["USER nobody"])
    assert sealed.raw == sealed.to_bytes()
    assert apply_changes(None, ["CMD x"]).cmd == ["/bin/sh", "-c", "x"]
    assert apply_changes(BASE, []) == BASE


def _check_go_duration(text, ns):
    assert parse_go_duration(text) == ns


def test_go_duration():
    each(
        [
            ("0", 0),
            ("1s", 10**9),
            ("1.5s", 1_500_000_000),
            ("1m30s", 90 * 10**9),
            ("2h", 7200 * 10**9),
            ("300ms", 300_000_000),
            ("1us", 1000),
            ("1µs", 1000),
            ("5ns", 5),
            ("-1s", -(10**9)),
            (".5s", 500_000_000),
        ],
        _check_go_duration,
    )


def _check_go_duration_invalid(text):
    with pytest.raises(ValueError):
        parse_go_duration(text)


def test_go_duration_invalid():
    each([(v,) for v in ["", "s", "1", "1d", "1.s.", "abc", "1 s"]], _check_go_duration_invalid)


def test_signals():
    for ok in ["SIGTERM", "term", "KILL", "9", "SIGRTMIN+3", "RTMAX-1"]:
        assert validate_signal(ok) == ok
    for bad in ["SIGFOO", "0", "65", "", "-1"]:
        with pytest.raises(ValueError, match="Invalid signal"):
            validate_signal(bad)


# --- docker image inspect -----------------------------------------------------------


def test_inspect_json_docker_image():
    cfg = parse_image_config(DOCKER_CONFIG)
    out = inspect_json(
        cfg,
        repo_tags=["busybox:latest"],
        repo_digests=["busybox@sha256:" + "d" * 64],
        size=4261550,
        graph_driver_data={"MergedDir": "/m", "UpperDir": "/u", "WorkDir": "/w"},
    )
    assert list(out) == [
        "Id",
        "RepoTags",
        "RepoDigests",
        "Parent",
        "Comment",
        "Created",
        "Container",
        "ContainerConfig",
        "DockerVersion",
        "Author",
        "Config",
        "Architecture",
        "Os",
        "Size",
        "GraphDriver",
        "RootFS",
        "Metadata",
    ]
    assert out["Id"] == cfg.image_id
    assert out["RepoTags"] == ["busybox:latest"]
    assert out["Parent"] == "" and out["Comment"] == ""
    assert out["Created"] == "2023-07-18T23:19:33.655005962Z"
    assert out["Container"] == "a" * 64
    assert out["DockerVersion"] == "20.10.23" and out["Author"] == ""
    assert out["Config"] == {
        "Hostname": "",
        "Domainname": "",
        "User": "",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": ["sh"],
        "Image": "sha256:" + "1" * 64,
        "Volumes": None,
        "WorkingDir": "",
        "Entrypoint": None,
        "OnBuild": None,
        "Labels": None,
    }
    assert list(out["Config"]) == list(out["ContainerConfig"])[: len(out["Config"])]
    assert out["ContainerConfig"]["Hostname"] == "abc"
    assert out["ContainerConfig"]["Labels"] == {}
    assert out["Architecture"] == "amd64" and out["Os"] == "linux" and "Variant" not in out
    assert out["Size"] == 4261550
    assert out["GraphDriver"] == {
        "Data": {"MergedDir": "/m", "UpperDir": "/u", "WorkDir": "/w"},
        "Name": "overlay2",
    }
    assert out["RootFS"] == {"Type": "layers", "Layers": [L0]}
    assert out["Metadata"] == {"LastTagTime": "0001-01-01T00:00:00Z"}
    json.dumps(out)  # plain JSON types only


def test_inspect_json_oci_image_and_api_versions():
    cfg = parse_image_config(OCI_CONFIG)
    out = inspect_json(cfg, last_tag_time="2024-05-01T10:00:00.100Z")
    assert out["Comment"] == "last"  # from the last history entry
    assert out["Created"] == "2024-01-02T03:04:05+01:00"
    assert out["Variant"] == "v8" and out["Author"] == "someone"
    assert "Container" not in out  # empty: omitted
    assert out["ContainerConfig"]["Env"] is None  # an all-zero Go struct
    conf = out["Config"]
    assert conf["ExposedPorts"] == {"8080/tcp": {}}
    assert conf["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 30000000000, "Retries": 3}
    assert conf["ArgsEscaped"] is True and conf["StopSignal"] == "SIGINT"
    assert conf["Shell"] == ["/bin/bash", "-c"]
    assert "x-custom" not in conf and "StopTimeout" not in conf and "MacAddress" not in conf
    assert out["Metadata"]["LastTagTime"] == "2024-05-01T10:00:00.1Z"
    assert "VirtualSize" not in out
    old = inspect_json(cfg, size=5, api_version="1.43")
    assert old["VirtualSize"] == 5
    new = inspect_json(cfg, api_version="1.45")
    assert "ContainerConfig" not in new and "Container" not in new


def test_inspect_json_minimal():
    cfg = new_image_config(architecture="amd64")
    out = inspect_json(cfg, image_id="sha256:" + "e" * 64)
    assert out["Id"] == "sha256:" + "e" * 64
    assert out["Config"] is None
    assert "Created" not in out
    assert out["RootFS"] == {"Type": "layers"}
    assert out["RepoTags"] == [] and out["RepoDigests"] == []
    assert out["GraphDriver"] == {"Data": {}, "Name": "overlay2"}
