"""One exception hierarchy for the runtime; messages are single lines, lowercase."""


class OCIError(Exception):
    """Base class: anything the runtime reports to its caller."""


class ConfigError(OCIError, ValueError):
    """config.json is malformed, contradictory or unsupported; names the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class ContainerNotFound(OCIError):
    def __init__(self, container_id: str) -> None:
        super().__init__(f"container {container_id!r} does not exist")


class ContainerExists(OCIError):
    def __init__(self, container_id: str) -> None:
        super().__init__(f"container with id {container_id!r} already exists")


class InvalidState(OCIError):
    """An operation is not allowed in the container's current status."""


class ContainerInitError(OCIError):
    """The container's init stage failed before the user process could run."""
