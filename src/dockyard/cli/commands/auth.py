"""``login`` and ``logout``: the daemon checks the login (``POST /auth``); the CLI keeps it
in ``config.json`` through :mod:`dockyard.distribution.credentials`."""

from __future__ import annotations

from ..context import CLIError, Context
from ..flags import Parsed

DEFAULT_SERVER = "https://index.docker.io/v1/"


def _registry(server: str) -> str:
    """The registry host a server argument names (``https://host/v2/`` → ``host``)."""
    for scheme in ("https://", "http://"):
        if server.startswith(scheme):
            server = server[len(scheme):]
    host = server.split("/", 1)[0]
    return "docker.io" if host in ("index.docker.io", "registry-1.docker.io") else host


def login(ctx: Context, opts: Parsed) -> int:
    from dockyard.distribution.authconfig import AuthConfig
    from dockyard.distribution.credentials import store_credentials

    server = opts.args[0] if opts.args else DEFAULT_SERVER
    registry = _registry(server)
    username = opts.username or ""
    password = opts.password or ""
    if opts.password and opts.password_stdin:
        raise CLIError("--password and --password-stdin are mutually exclusive")
    if opts.password_stdin:
        if not username:
            raise CLIError("Must provide --username with --password-stdin")
        password = ctx.stdin.read().rstrip("\r\n")
    elif opts.password:
        ctx.stderr.write("WARNING! Using --password via the CLI is insecure. "
                         "Use --password-stdin.\n")
    if not username:
        ctx.stdout.write("Username: ")
        ctx.stdout.flush()
        username = ctx.stdin.readline().strip()
        if not username:
            raise CLIError("Error: Non-null Username Required")
    if not password:
        import getpass
        password = getpass.getpass("Password: ")
        if not password:
            raise CLIError("Error: Password Required")
    result = ctx.client.auth(username, password, serveraddress=server)
    token = (result or {}).get("IdentityToken") or ""
    store_credentials(registry, AuthConfig(username=username, password=password,
                                           identity_token=token), ctx.config_file)
    ctx.stdout.write(((result or {}).get("Status") or "Login Succeeded") + "\n")
    return 0


def logout(ctx: Context, opts: Parsed) -> int:
    from dockyard.distribution import credentials

    server = opts.args[0] if opts.args else DEFAULT_SERVER
    registry = _registry(server)
    shown = DEFAULT_SERVER if registry == "docker.io" else registry
    if credentials.logout(registry, ctx.config_file):
        ctx.stdout.write(f"Removing login credentials for {shown}\n")
    else:
        ctx.stdout.write(f"Not logged in to {shown}\n")
    return 0
