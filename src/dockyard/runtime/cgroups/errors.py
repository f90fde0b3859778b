"""The one error type of the cgroup library."""


class CgroupError(ValueError):
    """A resource request that is invalid, or that this host's cgroups cannot honour.

    The message starts with the OCI field it is about, e.g.
    ``linux.resources.memory.limit: must be an integer``.
    """
