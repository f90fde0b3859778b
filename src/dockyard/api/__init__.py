"""The daemon's HTTP layer: Docker Engine API v1.44 over aiohttp.

One router module per resource (``system``, ``images``), each a list of ``ROUTES``
``(method, path, handler)`` that ``app.create_app`` registers twice: unversioned and under
``/v{version}``. Handlers are thin: parse the query, call the image layer (blocking work in
the daemon's thread pool), answer Docker's JSON. The engine plugs in through
:class:`dockyard.api.hooks.EngineHooks` and publishes to :mod:`dockyard.api.events`.
"""
