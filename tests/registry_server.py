"""Debian's ``docker-registry`` (CNCF distribution 2.8) and a token server, for tests.

``run_registry(tmp, ...)`` starts the registry on ``127.0.0.1:<free port>`` with its storage,
config and log under ``tmp``, waits until ``/v2/`` answers (polling against a deadline) and
stops it by the pid it started, even when the test fails::

    with run_registry(tmp_path) as reg:                        # anonymous, delete enabled
        ...reg.host  -> "127.0.0.1:41234"
    with run_registry(tmp_path, htpasswd={"alice": "secret"}) as reg: ...
    with run_token_server(tmp_path, users={"alice": "secret"}) as ts, \\
         run_registry(tmp_path, token=ts) as reg: ...

The token server runs in-process (aiohttp on its own thread and event loop). It signs RS256
JWTs with a throwaway key whose self-signed certificate is the registry's ``rootcertbundle``;
the certificate travels in the JWT header (``x5c``). Key, certificate and signatures come from
the ``openssl`` command line. Anonymous callers get ``pull``; callers with valid Basic
credentials get every action they ask for; wrong credentials get 401. ``offline_token=true``
from an authenticated caller adds a ``refresh_token``, which the OAuth2 POST accepts.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import hashlib
import io
import json
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REGISTRY_BIN = "docker-registry"
READY_TIMEOUT = 20.0


def require(*programs: str) -> None:
    for program in programs:
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- a hand-made OCI image, and pushing/reading it ---------------------------------------

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ACCEPT = [OCI_MANIFEST, "application/vnd.oci.image.index.v1+json",
          "application/vnd.docker.distribution.manifest.v2+json"]


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def pieces(data: bytes, size: int = 65536):
    for i in range(0, len(data), size):
        yield data[i:i + size]


@dataclass
class Image:
    config: bytes
    layer: bytes
    manifest: bytes

    @property
    def digest(self) -> str:
        return sha(self.manifest)

    @property
    def blobs(self) -> dict[str, bytes]:
        return {sha(self.config): self.config, sha(self.layer): self.layer}


def make_image(text: str = "hello from dockyard\n") -> Image:
    """A one-layer OCI image put together by hand."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mode, info.mtime = len(text.encode()), 0o644, 0
        tar.addfile(info, io.BytesIO(text.encode()))
    layer = gzip.compress(raw.getvalue(), mtime=0)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha(raw.getvalue())]},
        "history": [{"created_by": "dockyard test"}],
    }, sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": sha(layer), "size": len(layer)}],
    }, indent=2).encode()
    return Image(config, layer, manifest)


async def push(client, repo: str, image: Image, tag: str = "v1") -> str:
    for digest, data in image.blobs.items():
        await client.upload_blob(repo, digest, len(data), pieces(data))
    return await client.put_manifest(repo, tag, image.manifest, OCI_MANIFEST)


async def read_all(stream) -> bytes:
    out = bytearray()
    async with stream:
        async for chunk in stream:
            out += chunk
    return bytes(out)



# --- a credential helper ----------------------------------------------------------------

_HELPER = textwrap.dedent("""\
    #!{python}
    import json, os, sys
    store = os.environ["FAKE_HELPER_STORE"]
    data = json.load(open(store)) if os.path.exists(store) else {{}}
    action = sys.argv[1]
    text = sys.stdin.read()
    with open(store + ".log", "a") as log:
        log.write(action + " " + text.strip().replace("\\n", " ") + "\\n")
    if action == "get":
        if text.strip() not in data:
            print("credentials not found in native keychain")
            sys.exit(1)
        json.dump(data[text.strip()], sys.stdout)
    elif action == "store":
        doc = json.loads(text)
        data[doc["ServerURL"]] = doc
        json.dump(data, open(store, "w"))
    elif action == "erase":
        data.pop(text.strip(), None)
        json.dump(data, open(store, "w"))
    else:
        sys.exit(2)
    """)


def fake_credential_helper(bindir: Path, store: Path) -> Path:
    """Write ``docker-credential-test`` into ``bindir``; it keeps secrets in the JSON file
    named by ``$FAKE_HELPER_STORE`` (set it, and put ``bindir`` on ``PATH``) and logs each call
    to ``<store>.log``. Returns ``store``."""
    bindir.mkdir(parents=True, exist_ok=True)
    script = bindir / "docker-credential-test"
    script.write_text(_HELPER.format(python=sys.executable))
    script.chmod(0o755)
    return store


# --- token server -----------------------------------------------------------------------


@dataclass
class TokenServer:
    """A Docker token server; ``requests`` records each request's method, user and scopes."""

    dir: Path
    users: Mapping[str, str]
    service: str = "dockyard-test"
    issuer: str = "dockyard-test-issuer"
    expires_in: int = 300
    port: int = 0
    requests: list[dict] = field(default_factory=list)
    refresh_tokens: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> Path:
        return self.dir / "token-key.pem"

    @property
    def cert(self) -> Path:
        return self.dir / "token-cert.pem"

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def make_keys(self) -> None:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=dockyard-test-token", "-keyout", str(self.key), "-out", str(self.cert)],
            check=True, capture_output=True,
        )
        der = subprocess.run(["openssl", "x509", "-in", str(self.cert), "-outform", "DER"],
                             check=True, capture_output=True).stdout
        self._x5c = base64.b64encode(der).decode()

    def sign(self, claims: dict) -> str:
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        parts = (json.dumps(header).encode(), json.dumps(claims).encode())
        signing_input = ".".join(b64url(p) for p in parts)
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)],
                             input=signing_input.encode(), check=True, capture_output=True).stdout
        return f"{signing_input}.{b64url(sig)}"

    def grant(self, user: str | None, scopes: list[str]) -> list[dict]:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = [a for a in actions.split(",") if a]
            allowed = wanted if user else [a for a in wanted if a == "pull"]
            if kind == "repository" and allowed:
                access.append({"type": kind, "name": name, "actions": allowed})
        return access

    def issue(self, user: str | None, scopes: list[str], offline: bool) -> dict:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": user or "", "aud": self.service, "exp": now + 600,
                  "nbf": now - 30, "iat": now, "jti": secrets.token_hex(8),
                  "access": self.grant(user, scopes)}
        token = self.sign(claims)
        doc = {"token": token, "access_token": token, "expires_in": self.expires_in,
               "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))}
        if offline and user:
            refresh = secrets.token_hex(16)
            self.refresh_tokens[refresh] = user
            doc["refresh_token"] = refresh
        return doc

    def basic_user(self, header: str | None) -> tuple[bool, str | None]:
        """(credentials valid or absent, user)."""
        if not header:
            return True, None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False, None
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return False, None
        if self.users.get(user) == password:
            return True, user
        return False, None

    async def handle_get(self, request):
        from aiohttp import web

        ok, user = self.basic_user(request.headers.get("Authorization"))
        scopes = request.query.getall("scope", [])
        self.requests.append({"method": "GET", "user": user, "scopes": scopes,
                              "service": request.query.get("service"), "ok": ok})
        if not ok:
            return web.json_response({"details": "incorrect username or password"}, status=401)
        offline = request.query.get("offline_token") == "true"
        doc = await asyncio.to_thread(self.issue, user, scopes, offline)
        return web.json_response(doc)

    async def handle_post(self, request):
        from aiohttp import web

        form = await request.post()
        scopes = str(form.get("scope", "")).split()
        user = None
        if form.get("grant_type") == "refresh_token":
            user = self.refresh_tokens.get(str(form.get("refresh_token", "")))
        elif (form.get("grant_type") == "password"
              and self.users.get(str(form.get("username"))) == form.get("password")):
            user = str(form.get("username"))
        self.requests.append({"method": "POST", "user": user, "scopes": scopes,
                              "service": form.get("service"), "ok": user is not None})
        if user is None:
            return web.json_response({"error": "invalid_grant"}, status=401)
        doc = await asyncio.to_thread(self.issue, user, scopes, False)
        return web.json_response({"access_token": doc["token"], "expires_in": self.expires_in,
                                  "scope": " ".join(scopes)})


@contextlib.contextmanager
def run_token_server(tmp: Path, users: Mapping[str, str] | None = None,
                     **kw: object) -> Iterator[TokenServer]:
    """A token server on a thread; stopped (and its thread joined) on exit."""
    require("openssl")
    from aiohttp import web

    tmp.mkdir(parents=True, exist_ok=True)
    server = TokenServer(tmp, dict(users or {}), **kw)  # type: ignore[arg-type]
    server.make_keys()
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_get("/token", server.handle_get)
    app.router.add_post("/token", server.handle_post)
    runner = web.AppRunner(app, access_log=None)
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        server.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, name="token-server", daemon=True)
    thread.start()
    try:
        if not started.wait(10):
            raise RuntimeError("token server did not start")
        yield server
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


# --- registry ---------------------------------------------------------------------------


@dataclass
class Registry:
    dir: Path
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


def registry_config(root: Path, port: int, *, htpasswd: Path | None = None,
                    token: TokenServer | None = None) -> str:
    lines = [
        "version: 0.1",
        "log:",
        "  level: warn",
        "  accesslog:",
        "    disabled: true",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {root}",
        "  delete:",
        "    enabled: true",
        "  maintenance:",
        "    uploadpurging:",
        "      enabled: false",
        "http:",
        f"  addr: 127.0.0.1:{port}",
        f"  secret: {secrets.token_hex(16)}",
    ]
    if htpasswd is not None:
        lines += ["auth:", "  htpasswd:", "    realm: dockyard-test", f"    path: {htpasswd}"]
    elif token is not None:
        lines += ["auth:", "  token:", f"    realm: {token.realm}", f"    service: {token.service}",
                  f"    issuer: {token.issuer}", f"    rootcertbundle: {token.cert}"]
    return "\n".join(lines) + "\n"


def write_htpasswd(path: Path, users: Mapping[str, str]) -> Path:
    require("htpasswd")
    entries = []
    for user, password in users.items():
        out = subprocess.run(["htpasswd", "-Bbn", user, password], check=True,
                             capture_output=True, text=True).stdout
        entries.append(out.strip())
    path.write_text("\n".join(entries) + "\n")
    return path


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/v2/", timeout=2) as resp:
            return resp.status == 200
    except urllib.error.HTTPError as exc:
        return exc.code == 401
    except OSError:
        return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@contextlib.contextmanager
def run_registry(tmp: Path, *, htpasswd: Mapping[str, str] | None = None,
                 token: TokenServer | None = None, name: str = "registry") -> Iterator[Registry]:
    """A running ``docker-registry``; stopped by its pid on exit."""
    require(REGISTRY_BIN)
    base = tmp / name
    base.mkdir(parents=True, exist_ok=True)
    passwd = write_htpasswd(base / "htpasswd", htpasswd) if htpasswd is not None else None
    log = base / "registry.log"
    for _attempt in range(5):  # a free port can be taken between probing and binding
        port = free_port()
        config = base / "config.yml"
        config.write_text(registry_config(base / "data", port, htpasswd=passwd, token=token))
        with open(log, "wb") as out:
            process = subprocess.Popen([REGISTRY_BIN, "serve", str(config)], stdout=out,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        reg = Registry(base, port, process, log)
        try:
            deadline = time.monotonic() + READY_TIMEOUT
            while process.poll() is None and not _ready(reg.url):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"registry not ready in {READY_TIMEOUT}s:\n"
                                       f"{reg.log_text()}")
                time.sleep(0.02)
            if process.poll() is not None:
                if "address already in use" in reg.log_text():
                    continue
                raise RuntimeError(f"registry exited {process.returncode}:\n{reg.log_text()}")
            yield reg
            return
        finally:
            _stop(process)
    raise RuntimeError("no free port for the registry")


# --- a scripted fake, for behaviour a real registry will not show on demand ------------


@dataclass
class Seen:
    method: str
    raw_path: str
    headers: dict[str, str]
    body: bytes


class FakeServer:
    """An in-loop aiohttp server answering every request with ``handler(request, body)``.

    Use inside a running event loop::

        async with FakeServer(handler) as fake:
            fake.url  -> "http://127.0.0.1:<port>";  fake.seen -> [Seen, ...]
    """

    def __init__(self, handler) -> None:  # handler: async (request, body) -> Response
        self.handler = handler
        self.seen: list[Seen] = []
        self.port = 0
        self._runner = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def methods(self) -> list[str]:
        return [s.method for s in self.seen]

    async def __aenter__(self) -> FakeServer:
        from aiohttp import web

        async def dispatch(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            self.seen.append(Seen(request.method, request.raw_path, dict(request.headers), body))
            return await self.handler(request, body)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
