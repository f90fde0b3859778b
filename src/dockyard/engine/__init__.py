"""The daemon's core: containers, their lifecycle, shims, logs and restart policies.

What the API layer calls (every method a coroutine unless noted; errors are
``engine.errors.EngineError`` subclasses carrying ``.status`` 304/400/404/409/500 and
``.message`` in Docker's words)::

    engine = await ContainerEngine.open(data_root, exec_root, image_store, EngineConfig())
    await engine.create(config, host_config=None, name=None) -> {"Id", "Warnings"}
    await engine.start/stop(t, signal)/kill(signal)/restart(t, signal)/pause/unpause(ref)
    await engine.wait(ref, condition) -> {"StatusCode", "Error"}
    await engine.remove(ref, force=, volumes=) ; await engine.rename(ref, new_name)
    await engine.update(ref, changes) -> {"Warnings": []}
    await engine.inspect(ref) / engine.list(all=, filters=, limit=) / engine.top(ref, ps_args)
    async for entry in engine.logs(ref, follow=, since=, until=, timestamps=, tail=, ...)
    sock = await engine.attach(ref, stdin=, stdout=, stderr=) ; await engine.resize(ref, h, w)
    unsubscribe = engine.subscribe(callback)   # Docker-shaped container events
    await engine.close()                        # containers keep running (live restore)

Modules: ``state.py`` (the lifecycle table), ``spec.py`` (Config/HostConfig -> OCI
config.json, pure), ``shim.py`` (the per-container process), ``shimserver.py`` (the
resident process that forks shims), ``jsonlog.py`` (json-file logs), ``volumes.py`` (a
container's volumes from create to removal), ``names.py``, ``containers.py`` (the engine),
``hooks.py`` (the daemon's wiring of engine, network manager and API).
"""


def create_engine(config, store, events):
    """``dockyardd``'s entry point: the API's EngineHooks backed by this engine (hooks.py);
    imported lazily so that importing the package stays cheap."""
    from .hooks import create_engine as _create

    return _create(config, store, events)
