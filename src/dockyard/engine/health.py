"""Health checks: Docker's HEALTHCHECK, probed as execs inside the container.

Theory of operation. A container's health check is its merged Config.Healthcheck (the
image's HEALTHCHECK with the run's ``--health-*`` options over it; ``["NONE"]``
disables it). While the container runs, one :class:`HealthMonitor` task per container
sleeps an interval (the start interval while within the start period and not yet
healthy), runs the test through the engine's exec manager (``engine.execs``: the exec
helper, never a fork of the daemon), and records the result in ``State.Health``: the
last :data:`MAX_LOG` results, the failing streak and the status
(starting -> healthy | unhealthy). A status change emits ``health_status: <status>``.
The monitor is stopped when the container exits (the status then reads unhealthy,
as moby's SetStopped) and is started again, status *starting*, on each start and for
each running container the daemon re-adopts after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from typing import Any

from .jsonlog import parse_time_ns, rfc3339nano

MAX_LOG = 5
MAX_OUTPUT = 4096
DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_START_PERIOD = 0.0
DEFAULT_START_INTERVAL = 5.0
DEFAULT_RETRIES = 3
MIN_INTERVAL = 0.001  # Docker's minimum (1 ms) for interval, timeout, start interval

STARTING, HEALTHY, UNHEALTHY = "starting", "healthy", "unhealthy"
DURATIONS = ("Interval", "Timeout", "StartPeriod", "StartInterval")


def merge(user: dict[str, Any] | None, image: dict[str, Any] | None) -> dict[str, Any] | None:
    """moby's merge of a run's Healthcheck over the image's: an empty Test inherits
    the image's test, zero durations and retries inherit the image's values."""
    if not user:
        return dict(image) if image else None
    out = dict(user)
    image = image or {}
    if not out.get("Test") and image.get("Test"):
        out["Test"] = image["Test"]
    for key in (*DURATIONS, "Retries"):
        if not out.get(key) and image.get(key):
            out[key] = image[key]
    return out


def probe_command(check: dict[str, Any] | None) -> list[str] | None:
    """The command to run, or None when there is no (or a disabled) health check."""
    if not check:
        return None
    test = check.get("Test") or []
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD":
        return list(test[1:]) or None
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(test[1:])] if len(test) > 1 else None
    return list(test)  # moby: anything else is an exec form


def validate(check: dict[str, Any] | None) -> None:
    """Docker's checks on create (400 each)."""
    from .errors import InvalidParameter

    if not check:
        return
    for key in DURATIONS:
        value = check.get(key) or 0
        if not isinstance(value, int) or value < 0:
            raise InvalidParameter(f"{key} in Healthcheck cannot be negative")
        if value and value < 1_000_000:
            raise InvalidParameter(
                f"{key} in Healthcheck cannot be less than 1ms")
    retries = check.get("Retries") or 0
    if not isinstance(retries, int) or retries < 0:
        raise InvalidParameter("Retries in Healthcheck cannot be negative")


def _seconds(check: dict[str, Any], key: str, default: float) -> float:
    ns = check.get(key) or 0
    return ns / 1e9 if ns > 0 else default


def status_suffix(state: dict[str, Any]) -> str:
    """What `docker ps` adds after "Up 5 seconds": " (healthy)", " (health: starting)"."""
    health = state.get("Health")
    if not health or state.get("Status") != "running":
        return ""
    status = health.get("Status")
    if status == STARTING:
        return " (health: starting)"
    return f" ({status})" if status else ""


def apply_result(health: dict[str, Any], result: dict[str, Any], retries: int,
                 in_start_period: bool) -> None:
    """moby's handleProbeResult on ``health`` (State.Health), in place."""
    log = health.setdefault("Log", []) or []
    log.append(result)
    health["Log"] = log[-MAX_LOG:]
    if result["ExitCode"] == 0:
        health["FailingStreak"] = 0
        health["Status"] = HEALTHY
        return
    if health.get("Status") == STARTING and in_start_period:
        return  # failures within the start period do not count (until healthy once)
    health["FailingStreak"] = int(health.get("FailingStreak") or 0) + 1
    if health["FailingStreak"] >= retries:
        health["Status"] = UNHEALTHY


class HealthMonitor:
    """Probes one running container until stopped."""

    def __init__(self, engine: Any, live: Any, check: dict[str, Any],
                 command: list[str]) -> None:
        self.engine = engine
        self.live = live
        self.check = check
        self.command = command
        self.interval = _seconds(check, "Interval", DEFAULT_INTERVAL)
        self.timeout = _seconds(check, "Timeout", DEFAULT_TIMEOUT)
        self.start_period = _seconds(check, "StartPeriod", DEFAULT_START_PERIOD)
        self.start_interval = _seconds(check, "StartInterval", DEFAULT_START_INTERVAL)
        retries = check.get("Retries") or 0
        self.retries = retries if retries > 0 else DEFAULT_RETRIES
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.ensure_future(self._loop())

    def stop(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
        self.task = None

    def _since_start(self) -> float:
        try:
            started = parse_time_ns(self.live.rec["State"]["StartedAt"])
        except (ValueError, KeyError):
            return 0.0
        return (time.time_ns() - started) / 1e9

    def _next_delay(self) -> float:
        health = self.live.rec["State"].get("Health") or {}
        if (health.get("Status") == STARTING and self.start_period
                and self._since_start() < self.start_period):
            return min(self.start_interval, self.interval)
        return self.interval

    async def _loop(self) -> None:
        try:
            while True:
                await asyncio.sleep(self._next_delay())
                if not self.live.rec["State"].get("Running"):
                    return
                if self.live.rec["State"].get("Paused"):
                    continue
                in_period = self._since_start() < self.start_period
                result = await self.probe()
                # Under the container's lock, so that the record is never written back
                # after an exit or a removal (which take the lock) went by.
                async with self.live.lock:
                    status = self.live.rec["State"].get("Status")
                    if status == "paused":
                        continue  # paused during the probe: the result does not count
                    if status != "running":
                        return
                    health = self.live.rec["State"].setdefault(
                        "Health", {"Status": STARTING, "FailingStreak": 0, "Log": []})
                    before = health.get("Status")
                    apply_result(health, result, self.retries, in_period)
                    write = asyncio.ensure_future(self.engine._persist(self.live))
                    try:
                        await asyncio.shield(write)
                    except asyncio.CancelledError:
                        await write  # finish the write while the lock is held
                        raise
                if health["Status"] != before:
                    self.engine._emit(self.live, f"health_status: {health['Status']}")
        except asyncio.CancelledError:
            pass

    async def probe(self) -> dict[str, Any]:
        """One run of the test: {Start, End, ExitCode, Output} (-1 on timeout)."""
        execs = self.engine.execs
        start = rfc3339nano()
        try:
            exec_id = await execs.create(self.live.id, {
                "Cmd": self.command, "AttachStdout": True, "AttachStderr": True})
        except Exception as err:
            return {"Start": start, "End": rfc3339nano(), "ExitCode": -1,
                    "Output": str(getattr(err, "message", err))}
        output = bytearray()
        try:
            session = await execs.start(exec_id)
            if session.error:
                output += session.error.encode()

            async def drain() -> None:
                while True:
                    item = await session.read()
                    if item is None:
                        return
                    if len(output) < MAX_OUTPUT:
                        output.extend(item[1][: MAX_OUTPUT - len(output)])

            try:
                await asyncio.wait_for(drain(), self.timeout)
            except TimeoutError:
                rec = execs._records.get(exec_id)
                if rec is not None and rec.pid and rec.running:
                    with contextlib.suppress(OSError):
                        os.kill(rec.pid, signal.SIGKILL)
                session.detach()
                return {"Start": start, "End": rfc3339nano(), "ExitCode": -1,
                        "Output": f"Health check exceeded timeout ({_go_duration(self.timeout)})"}
            code = session.record.exit_code
            return {"Start": start, "End": rfc3339nano(),
                    "ExitCode": -1 if code is None else code,
                    "Output": output.decode("utf-8", "replace")}
        finally:
            # moby unregisters a probe's exec: it is not among the container's ExecIDs.
            execs._records.pop(exec_id, None)


def _go_duration(seconds: float) -> str:
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    return f"{seconds:g}s"


def begin(engine: Any, live: Any, monitors: dict[str, HealthMonitor]) -> None:
    """The container (re)started or was re-adopted: reset its health, start probing."""
    end(live, monitors, stopped=False)
    check = live.rec["Config"].get("Healthcheck")
    command = probe_command(check)
    if command is None:
        return
    health = live.rec["State"].get("Health") or {"Log": []}
    health.update(Status=STARTING, FailingStreak=0)
    health.setdefault("Log", [])
    live.rec["State"]["Health"] = health
    monitor = HealthMonitor(engine, live, check, command)
    monitors[live.id] = monitor
    monitor.start()


def end(live: Any, monitors: dict[str, HealthMonitor], stopped: bool = True) -> None:
    """Stop probing; a stopped container's health reads unhealthy (moby SetStopped)."""
    monitor = monitors.pop(live.id, None)
    if monitor is not None:
        monitor.stop()
    health = live.rec["State"].get("Health")
    if stopped and health:
        health["Status"] = UNHEALTHY
