"""A tiny Starlette app over ``web_routes`` under a real uvicorn on a free port, and stores.

The server's own app (``statesync.server.app``) mounts the same routes; these
tests need only the web view, so they build the smallest app that holds it.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from statesync.api import Store
from statesync.backends.base import Backend
from statesync.sync.store.repo import open_repo
from tests import leakrecord
from tests.helpers import write
from tests.leakscan import planted

PASSPHRASE = "web view passphrase 1"


@dataclass
class WebCtx:
    """The smallest :class:`statesync.server.web.deps.WebContext`: one open store.

    ``wrap``: put a recording layer around the store's real backend.
    """

    store_url: str
    wrap: Callable[[Backend], Backend] | None = None
    opened: Store = field(init=False)

    def __post_init__(self) -> None:
        self.opened = Store.open(self.store_url)
        if self.wrap is not None:
            self.opened = Store(open_repo(self.wrap(self.opened.repo.backend)), self.opened.config)

    def store(self) -> Store:
        return self.opened

    def viewer_role(self, request: object) -> str:
        return "admin"  # the most a viewer can be: secrets must stay redacted even so


@contextmanager
def serve_web(
    store_url: str,
    user_dirs: Path | None = None,
    wrap: Callable[[Backend], Backend] | None = None,
) -> Iterator[str]:
    """Serve the web view of ``store_url`` on 127.0.0.1:<free port>; yields the base URL.

    ``user_dirs``: open the store with user folders of its own there (for a
    fixture that outlives one test's folders). ``wrap``: as for :class:`WebCtx`.
    """
    import uvicorn
    from starlette.applications import Starlette

    from statesync.server.web import web_routes

    with pytest.MonkeyPatch.context() as mp:
        if user_dirs is not None:
            private_env(user_dirs, mp)
        ctx = WebCtx(store_url, wrap)
    app = Starlette(routes=web_routes(ctx))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        ctx.opened.close()


@dataclass(frozen=True)
class Fetched:
    status: int
    body: bytes
    headers: dict[str, str]

    @property
    def text(self) -> str:
        return self.body.decode()


def fetch(url: str) -> Fetched:
    """GET ``url`` with urllib; error statuses are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            got = Fetched(resp.status, resp.read(), dict(resp.headers))
    except urllib.error.HTTPError as exc:
        got = Fetched(exc.code, exc.read(), dict(exc.headers))
    leakrecord.record_http(
        "GET", urllib.parse.urlsplit(url).path, got.status, got.headers, got.body
    )
    return got


def private_env(base: Path, mp: pytest.MonkeyPatch, passphrase: bool = False) -> None:
    """User folders of a (session-scoped) fixture's own, as the autouse fixture gives each test.

    The server never gets the passphrase: the web view must not need a key to
    show a store whose secrets are sealed (it never opens them).
    """
    for name in ("CACHE", "DATA", "CONFIG", "STATE"):
        mp.setenv(f"XDG_{name}_HOME", str(base / f"xdg-{name.lower()}"))
    mp.delenv("STATESYNC_STORE", raising=False)
    if passphrase:
        mp.setenv("STATESYNC_PASSPHRASE", PASSPHRASE)
    else:
        mp.delenv("STATESYNC_PASSPHRASE", raising=False)


def state_folder(root: Path, host: str, password_name: str, replicas: int) -> Path:
    """A folder with secrets (planted), odd names, HTML in names and values, binary, a link."""
    write(
        root,
        "config.json",
        {
            "db": {"host": host, "password": planted(password_name)},
            "replicas": replicas,
            "note": "<b>not bold</b>",
        },
    )
    write(root, "<script>.json", {"alert": "<script>alert(1)</script>", "n": replicas})
    write(root, "odd name #1 ?&%.txt", f"odd file, replicas={replicas}\n")
    write(
        root,
        "deep/nested/app.yaml",
        f"service: web\napi_token: {planted('yaml-tok')}\nport: {8000 + replicas}\n",
    )
    write(root, "blob.bin", b"\xff\xfe\x00\x01 not text \xc3\x28" * 4)
    write(root, ".env", f"API_KEY={planted('envfile')}\n")
    link = root / "current"
    if not link.is_symlink():
        os.symlink("config.json", link)
    return root


def signed_push(base: Path, url: str, folder: Path) -> str:
    """Push ``folder`` to ``prod`` with its secrets sealed, signed with a key of its own."""
    from statesync.crypto import signing

    signing.generate(base / "signing.key")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STATESYNC_SIGNING_KEY", str(base / "signing.key"))
        with Store.open(url) as signer:
            return signer.push(folder, "prod", include_secrets=True, message="sealed").snapshot


@dataclass(frozen=True)
class WebStore:
    """A populated store: ``dev`` (two pushes, a lease), ``prod`` (secrets sealed), ``long``
    (LONG_COUNT snapshots) and ``vault`` (``--encrypt all``: unreadable without the key)."""

    url: str
    dev_first: str
    dev_second: str
    prod_head: str
    long_count: int


LONG_COUNT = 120


def build_store(base: Path) -> WebStore:
    url = (base / "store").as_uri()
    store = Store.init(url)
    try:
        store.keys().init("prod", ["passphrase"])
        folder = base / "work"
        first = store.push(
            state_folder(folder, "db1.internal", "db-one", 2), "dev", message="first <em>push</em>"
        ).snapshot
        second = store.push(
            state_folder(folder, "db2.internal", "db-two", 3), "dev", message="bump replicas"
        ).snapshot
        prod = signed_push(base, url, state_folder(base / "prod", "db9.internal", "db-prod", 5))
        store.keys().init("vault", ["passphrase"])
        store.push(
            state_folder(base / "vault", "db7.internal", "db-vault", 1), "vault", encrypt_all=True
        )
        store.keys().init("long", ["passphrase"])  # save_object seals secrets, or refuses them
        for i in range(LONG_COUNT):
            store.save_object(
                {"step": i, "token": planted("long")}, "long", description=f"step {i}"
            )
        store.lock("dev", ttl=3600, purpose="deploy <now>")
    finally:
        store.close()
    return WebStore(url, first, second, prod, LONG_COUNT)


@pytest.fixture(scope="session")
def web_store(tmp_path_factory: pytest.TempPathFactory) -> WebStore:
    """Built once for the HTTP and the browser tests (it takes a few seconds)."""
    base = tmp_path_factory.mktemp("web")
    with pytest.MonkeyPatch.context() as mp:
        private_env(base, mp, passphrase=True)
        return build_store(base)


@pytest.fixture(scope="session")
def web_url(web_store: WebStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_web(web_store.url, tmp_path_factory.mktemp("web-server")) as url:
        yield url
