"""Volume names, local driver options, filters and mount specs (pure, no root)."""

from __future__ import annotations

import pytest

from dockyard.volume import filters, mountspec, names, options
from dockyard.volume.errors import InvalidParameter

pytestmark = pytest.mark.unit


# --- names -----------------------------------------------------------------------------

@pytest.mark.parametrize("good", ["ab", "data", "my_vol.1-x", "0abc", "A" * 200])
def test_valid_names(good):
    names.validate(good)


def test_path_separator_refused_with_dockers_text():
    with pytest.raises(InvalidParameter) as err:
        names.validate("a/b")
    assert err.value.message == (
        'create a/b: "a/b" includes invalid characters for a local volume name, only '
        '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, '
        "use absolute path")


@pytest.mark.parametrize("bad", ["-ab", ".ab", "_ab", "a b", "a:b", "../x", "a\\b"])
def test_invalid_names(bad):
    with pytest.raises(InvalidParameter, match="invalid characters"):
        names.validate(bad)


def test_one_character_name_is_too_short():
    with pytest.raises(InvalidParameter, match="too short"):
        names.validate("a")


def test_anonymous_names():
    a, b = names.anonymous(), names.anonymous()
    assert a != b and len(a) == 64 and int(a, 16) >= 0
    assert names.is_anonymous({names.ANONYMOUS_LABEL: ""})
    assert not names.is_anonymous({}) and not names.is_anonymous(None)


# --- driver options ----------------------------------------------------------------------

def test_options_valid():
    options.validate(None)
    options.validate({"type": "tmpfs", "device": "tmpfs", "o": "size=1m,uid=1000"})
    plan = options.mount_plan({"type": "tmpfs", "device": "tmpfs", "o": "size=1m,noexec"})
    assert plan == options.MountPlan("tmpfs", "tmpfs", ("noexec",), "size=1m")
    assert options.mount_plan({}) is None


def test_options_bind():
    plan = options.mount_plan({"type": "none", "device": "/srv", "o": "bind"})
    assert plan is not None and plan.fstype == "bind" and "bind" in plan.flags


@pytest.mark.parametrize("opts,message", [
    ({"foo": "bar"}, 'invalid option: "foo"'),
    ({"type": "tmpfs"}, 'missing required option: "device"'),
    ({"device": "tmpfs"}, 'missing required option: "type"'),
    ({"o": "size=1m"}, "missing required option"),
    ({"type": "none", "device": "rel", "o": "bind"}, "absolute path"),
])
def test_options_refused(opts, message):
    with pytest.raises(InvalidParameter, match=message):
        options.validate(opts)


# --- filters --------------------------------------------------------------------------------

VOL = {"Name": "data-1", "Driver": "local", "Labels": {"a": "1", "b": ""}}


@pytest.mark.parametrize("flt,in_use,expected", [
    ({}, False, True),
    ({"name": ["data"]}, False, True),
    ({"name": ["other"]}, False, False),
    ({"driver": ["local"]}, False, True),
    ({"driver": ["nfs"]}, False, False),
    ({"label": ["a"]}, False, True),
    ({"label": ["a=1", "b"]}, False, True),
    ({"label": ["a=2"]}, False, False),
    ({"label!": ["a"]}, False, False),
    ({"label!": ["c"]}, False, True),
    ({"dangling": ["true"]}, False, True),
    ({"dangling": ["true"]}, True, False),
    ({"dangling": ["0"]}, True, True),
])
def test_filters_match(flt, in_use, expected):
    assert filters.matches(VOL, flt, in_use) is expected


def test_filters_checked():
    filters.check({"dangling": ["1"], "label": ["x"]}, filters.LIST_KEYS)
    with pytest.raises(InvalidParameter, match="invalid filter 'until'"):
        filters.check({"until": ["1h"]}, filters.LIST_KEYS)
    with pytest.raises(InvalidParameter, match="dangling=maybe"):
        filters.check({"dangling": ["maybe"]}, filters.LIST_KEYS)
    assert filters.prune_all({"all": ["true"]}) and not filters.prune_all({})


# --- -v and --mount -----------------------------------------------------------------------------

def test_bind_spec():
    mp = mountspec.parse_bind("/srv/x/:/data:ro,rshared")
    assert mp["Type"] == "bind" and mp["Source"] == "/srv/x" and not mp["RW"]
    assert mp["Propagation"] == "rshared" and mp["CreateSource"]


def test_named_volume_spec():
    mp = mountspec.parse_bind("cache:/var/cache:ro,nocopy")
    assert mp["Type"] == "volume" and mp["Name"] == "cache" and not mp["RW"]
    assert mp["CopyData"] is False and mp["Propagation"] == ""
    mp = mountspec.parse_bind("cache:/var/cache")
    assert mp["RW"] and mp["CopyData"] and mp["Mode"] == "z"


@pytest.mark.parametrize("bad,message", [
    ("a:b:c:d", "invalid volume specification"),
    ("vol:rel", "mount path must be absolute"),
    ("/a:/", "destination can't be '/'"),
    ("/a:/b:nocopy", "invalid mode"),
    ("/a:/b:ro,rw", "invalid mode"),
    ("v:/b:rslave", "invalid mode"),
])
def test_bad_bind_specs(bad, message):
    with pytest.raises(InvalidParameter, match=message):
        mountspec.parse_bind(bad)


def test_mount_volume():
    mp = mountspec.parse_mount({"Type": "volume", "Source": "v1", "Target": "/v",
                                "ReadOnly": True,
                                "VolumeOptions": {"NoCopy": True, "Labels": {"k": "v"},
                                                  "DriverConfig": {"Options": {"o": "x"}}}})
    assert mp["Name"] == "v1" and not mp["RW"] and not mp["CopyData"]
    assert mp["DriverOpts"] == {"o": "x"} and mp["VolumeLabels"] == {"k": "v"}


def test_mount_bind_source_must_exist(tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(InvalidParameter) as err:
        mountspec.parse_mount({"Type": "bind", "Source": missing, "Target": "/x"})
    assert err.value.message == ('invalid mount config for type "bind": bind source path '
                                 f"does not exist: {missing}")
    mp = mountspec.parse_mount({"Type": "bind", "Source": str(tmp_path), "Target": "/x",
                                "BindOptions": {"Propagation": "rslave"}})
    assert mp["Propagation"] == "rslave" and not mp["CreateSource"]


@pytest.mark.parametrize("m,message", [
    ({"Type": "tmpfs", "Source": "x", "Target": "/t"}, "field Source must not be specified"),
    ({"Type": "volume", "Target": "/t", "BindOptions": {"Propagation": "shared"}},
     "field BindOptions must not be specified"),
    ({"Type": "bind", "Target": "/t"}, "field Source must not be empty"),
    ({"Type": "volume", "Target": ""}, "field Target must not be empty"),
    ({"Type": "volume", "Target": "t"}, "mount path must be absolute"),
    ({"Type": "foo", "Target": "/t"}, "mount type unknown"),
])
def test_bad_mounts(m, message):
    with pytest.raises(InvalidParameter, match=message):
        mountspec.parse_mount(m, exists=lambda p: True)


def test_mount_tmpfs_options():
    mp = mountspec.parse_mount({"Type": "tmpfs", "Target": "/t",
                                "TmpfsOptions": {"SizeBytes": 65536, "Mode": 0o700}})
    assert mp["Options"] == ["size=65536", "mode=700"]


def test_plan_order_and_anonymous():
    inherited = [mountspec.inherit(mountspec.parse_bind("shared:/s"), "ro"),
                 mountspec.inherit(mountspec.parse_bind("other:/o"), "")]
    points = mountspec.plan({"Binds": ["/h:/o", "named:/n"], "Tmpfs": {"/run": "size=1m"}},
                            ["/anon", "/n", "/run"], inherited)
    by = {mp["Destination"]: mp for mp in points}
    assert set(by) == {"/s", "/o", "/n", "/run", "/anon"}
    assert by["/s"]["Name"] == "shared" and not by["/s"]["RW"] and not by["/s"]["CopyData"]
    assert by["/o"]["Type"] == "bind"  # a bind replaces what --volumes-from gave
    assert by["/n"]["Name"] == "named"  # the VOLUME is served by the named volume
    assert by["/anon"]["Anonymous"] and by["/anon"]["Name"] == "" and by["/anon"]["CopyData"]
    assert by["/run"]["Type"] == "tmpfs"


def test_plan_duplicates():
    with pytest.raises(InvalidParameter, match="Duplicate mount point: /x"):
        mountspec.plan({"Binds": ["/a:/x"], "Mounts": [{"Type": "tmpfs", "Target": "/x"}]})


def test_nested_mounts_after_their_parents():
    points = mountspec.plan({"Binds": ["/a:/x/y/z", "v:/x"]})
    assert [mp["Destination"] for mp in points] == ["/x", "/x/y/z"]


def test_volumes_from_spec():
    assert mountspec.parse_volumes_from("c1") == ("c1", "")
    assert mountspec.parse_volumes_from("c1:ro") == ("c1", "ro")
    with pytest.raises(InvalidParameter):
        mountspec.parse_volumes_from("c1:bogus")


def test_inspect_entry():
    mp = {**mountspec.parse_bind("v:/d"), "Source": "/var/lib/dockyard/volumes/v/_data"}
    assert mountspec.inspect_entry(mp) == {
        "Type": "volume", "Name": "v", "Source": "/var/lib/dockyard/volumes/v/_data",
        "Destination": "/d", "Driver": "local", "Mode": "z", "RW": True, "Propagation": ""}
    assert list(mountspec.inspect_entry(mountspec.parse_bind("/h:/d"))) == [
        "Type", "Source", "Destination", "Mode", "RW", "Propagation"]
