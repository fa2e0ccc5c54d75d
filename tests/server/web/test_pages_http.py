"""The web view over HTTP (urllib against a real uvicorn): statuses, escaping, redaction."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest

from statesync.api import Store
from statesync.backends.base import OVERWRITE, Backend, PutData, PutMode, Version
from tests.delegating import Delegating
from tests.helpers import write
from tests.leakscan import MARKER
from tests.server.web.conftest import PASSPHRASE, Fetched, WebStore, fetch, serve_web

SECRET_MARKER_HTML = "&lt;statesync:secret&gt;"


def get(url: str, status: int = 200) -> Fetched:
    """GET a page; assert its status and that no planted secret is anywhere in its bytes."""
    got = fetch(url)
    assert got.status == status, got.body[:2000]
    assert MARKER.encode() not in got.body
    assert b"Traceback" not in got.body
    return got


def test_environments_page_lists_each_env_with_head_lease_and_signing(
    web_url: str, web_store: WebStore
) -> None:
    page = get(web_url + "/").text
    for env in ("dev", "prod", "long"):
        assert f'href="/env/{env}"' in page
    assert web_store.dev_second[:12] in page
    assert "held by" in page and "deploy &lt;now&gt;" in page  # the lease, escaped
    assert "unsigned" in page
    prod = page.split('href="/env/prod"')[1].split("</tr>")[0]
    assert 'class="badge ok"' in prod and ">signed<" in prod
    assert '<td class="num">120</td>' in page  # long's head serial


def test_history_pages_fifty_at_a_time_and_follows_the_cursor(
    web_url: str, web_store: WebStore
) -> None:
    first = get(web_url + "/env/long").text
    assert first.count('<td class="mono"><a href="/snap/') == 50
    assert "step 119" in first and "step 70" in first and "step 69" not in first
    nxt = re.search(r'rel="next" href="([^"]+)"', first)
    assert nxt is not None
    second = get(web_url + nxt.group(1).replace("&amp;", "&")).text
    assert "step 69" in second and "step 20" in second and "step 119" not in second
    by_number = get(web_url + "/env/long?page=3").text
    assert by_number.count('<td class="mono"><a href="/snap/') == 20
    assert "step 19" in by_number and "step 0<" in by_number
    assert 'rel="next"' not in by_number  # the last page
    get(web_url + "/env/long?page=4", 404)
    get(web_url + f"/env/long?page=2&at={web_store.dev_second}", 404)  # another env's snapshot
    get(web_url + "/env/long?page=zero", 400)


def test_an_env_sealed_whole_is_named_not_opened_without_a_key(web_url: str) -> None:
    """The server has no key: ``vault``'s manifests cannot be read, and the pages say so."""
    envs = get(web_url + "/").text
    assert 'href="/env/vault"' in envs and "KeyFailure" in envs
    vault = envs.split('href="/env/vault"')[1].split("</tr>")[0]
    assert '<td class="num">1</td>' in vault  # its ref is still shown: serial 1
    assert 'href="/env/dev"' in envs  # the others are still listed
    page = get(web_url + "/env/vault", 500).text
    assert "Key needed" in page and "KeyFailure" in page


def test_unknown_env_snapshot_and_file_are_404_pages(web_url: str, web_store: WebStore) -> None:
    assert "Not found" in get(web_url + "/env/nosuchenv", 404).text
    get(web_url + "/snap/" + "ab" * 32, 404)
    get(web_url + "/snap/deadbeefdead", 404)
    get(web_url + f"/snap/{web_store.dev_second}/file/no/such.json", 404)
    get(web_url + "/env/..%2Fetc", 404)  # never a path below the store: no such route
    assert "Bad request" in get(web_url + "/env/bad%20name", 400).text
    get(web_url + "/snap/..", 404)


def test_snapshot_page_lists_files_modes_links_and_secrets(
    web_url: str, web_store: WebStore
) -> None:
    page = get(web_url + f"/snap/{web_store.dev_second}").text
    assert "&lt;script&gt;.json" in page and "<script>" not in page
    assert f"/snap/{web_store.dev_second}/file/{quote('odd name #1 ?&%.txt')}" in page.replace(
        "&amp;", "&"
    )
    assert "→ config.json" in page  # the link, with its target
    assert "0644" in page or "0664" in page
    assert "1 redacted" in page  # config.json's password, deep/nested/app.yaml's token
    assert ".env" in page and "left out" in page
    sealed = get(web_url + f"/snap/{web_store.prod_head}").text
    assert "sealed file" in sealed and "secret values sealed" in sealed


def test_file_pages_escape_content_and_redact_secrets(web_url: str, web_store: WebStore) -> None:
    for snap in (web_store.dev_second, web_store.prod_head):  # left out, and sealed
        page = get(web_url + f"/snap/{snap}/file/config.json").text
        assert SECRET_MARKER_HTML in page and '"host"' not in page  # quotes are escaped
        assert "&lt;b&gt;not bold&lt;/b&gt;" in page
        assert "statesync:enc:" not in page
        yaml_page = get(web_url + f"/snap/{snap}/file/deep/nested/app.yaml").text
        assert "api_token: " in yaml_page and SECRET_MARKER_HTML in yaml_page
    script = get(web_url + f"/snap/{web_store.dev_second}/file/{quote('<script>.json')}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in script
    assert "<script>" not in script
    odd = get(web_url + f"/snap/{web_store.dev_second}/file/{quote('odd name #1 ?&%.txt')}").text
    assert "odd file, replicas=3" in odd


def test_non_utf8_content_is_a_notice(web_url: str, web_store: WebStore) -> None:
    page = get(web_url + f"/snap/{web_store.dev_second}/file/blob.bin").text
    assert "not UTF-8 text (64 bytes of binary content)" in page
    assert "not text" not in page and '<pre class="content">' not in page
    sealed_file = get(web_url + f"/snap/{web_store.prod_head}/file/.env").text
    assert "its content is never shown" in sealed_file


def test_diff_between_snapshots_and_envs_shows_keys_with_secrets_redacted(
    web_url: str, web_store: WebStore
) -> None:
    page = get(web_url + f"/diff?a={web_store.dev_first}&b={web_store.dev_second}").text
    assert "/db/host" in page and "db1.internal" in page and "db2.internal" in page
    assert "/replicas" in page
    assert 'class="l add"' in page and 'class="l del"' in page
    envs = get(web_url + "/diff?a=dev&b=prod").text
    assert "/db/host" in envs and "db9.internal" in envs
    assert "statesync:enc:" not in envs
    assert "Diff" in get(web_url + "/diff").text  # the form alone
    get(web_url + "/diff?a=dev&b=nosuchenv", 404)


def test_pages_forbid_scripts_and_serve_the_stylesheet(web_url: str) -> None:
    page = get(web_url + "/")
    assert "script-src" not in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    css = get(web_url + "/_web/static/web.css")
    assert css.headers["content-type"].startswith("text/css") and b"--mono" in css.body


def test_damaged_manifest_is_a_page_naming_the_damage(tmp_path: Path) -> None:
    built = build_damaged(tmp_path)
    with serve_web(built.url) as url:
        page = get(url + f"/snap/{built.dev_second}", 500).text
        assert "Damaged or untrusted data" in page and "IntegrityError" in page
        assert "does not match its id" in page
        envs = get(url + "/").text  # the head of dev is that manifest: its row names it
        assert "IntegrityError" in envs and 'href="/env/prod"' in envs
        assert "IntegrityError" in get(url + "/env/dev", 500).text


def build_damaged(base: Path) -> WebStore:
    store = Store.init((base / "store").as_uri())
    try:
        folder = base / "work"
        write(folder, "a.json", {"v": 1})
        first = store.push(folder, "dev").snapshot
        write(folder, "a.json", {"v": 2})
        second = store.push(folder, "dev").snapshot
        store.push(folder, "prod")
    finally:
        store.close()
    path = base / "store" / "snapshots" / second
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(raw))
    return WebStore((base / "store").as_uri(), first, second, "", 0)


class Recording(Delegating):
    """The real driver; records every put and delete (a write undone leaves no other trace)."""

    def __init__(self, inner: Backend) -> None:
        super().__init__(inner)
        self.writes: list[str] = []

    def put(self, key: str, data: PutData, mode: PutMode = OVERWRITE) -> Version:
        self.writes.append(f"put {key}")
        return self.inner.put(key, data, mode)

    def delete(self, key: str, expected: Version | None = None) -> None:
        self.writes.append(f"delete {key}")
        self.inner.delete(key, expected)


def _listing(url: str) -> dict[str, object]:
    """Every object of the store with its version."""
    from statesync.backends import open_backend

    backend = open_backend(url)
    try:
        return {m.key: m.version for m in backend.list("")}
    finally:
        backend.close()


def _recorded() -> tuple[list[Recording], Callable[[Backend], Backend]]:
    made: list[Recording] = []

    def wrap(inner: Backend) -> Backend:
        made.append(Recording(inner))
        return made[-1]

    return made, wrap


def test_every_page_over_any_backend_writes_nothing(any_store_url: str, tmp_path: Path) -> None:
    """The same pages over each store backend (small store); the store is not written."""
    store = Store.init(any_store_url)
    try:
        write(tmp_path / "w", "s.json", {"k": 1, "password": "x"})
        a = store.push(tmp_path / "w", "dev").snapshot
        write(tmp_path / "w", "s.json", {"k": 2, "password": "y"})
        b = store.push(tmp_path / "w", "dev").snapshot
        store.lock("dev", ttl=3600, purpose="deploy")
        before = _listing(any_store_url)
        made, wrap = _recorded()
        with serve_web(any_store_url, wrap=wrap) as url:
            envs = get(url + "/").text
            assert "dev" in envs and "held by" in envs
            assert b[:12] in get(url + "/env/dev").text
            assert "s.json" in get(url + f"/snap/{b}").text
            assert SECRET_MARKER_HTML in get(url + f"/snap/{b}/file/s.json").text
            assert "/k" in get(url + f"/diff?a={a}&b={b}").text
            get(url + "/env/nope", 404)
        assert made and made[0].writes == [], "a page wrote to the store"
        assert _listing(any_store_url) == before
    finally:
        store.close()


def test_leases_are_judged_live_or_stale_without_a_clock_probe(tmp_path: Path) -> None:
    """Expiry from the store's timestamp of the lease, "now" from the server's clock."""
    import time

    url = (tmp_path / "store").as_uri()
    store = Store.init(url)
    try:
        write(tmp_path / "w", "s.json", {"k": 1})
        for env in ("held", "gone"):
            store.push(tmp_path / "w", env)
        store.lock("held", ttl=3600, purpose="deploy")
        store.lock("gone", ttl=1, purpose="crashed apply")
        time.sleep(2.5)  # past the 1 s TTL and the clock grace
        before = _listing(url)
        made, wrap = _recorded()
        with serve_web(url, wrap=wrap) as web:
            page = get(web + "/").text
        held = page.split('href="/env/held"')[1].split("</tr>")[0]
        gone = page.split('href="/env/gone"')[1].split("</tr>")[0]
        assert "held by" in held and "stale" not in held
        assert "stale lease" in gone and "held by" not in gone
        assert made[0].writes == [] and _listing(url) == before
    finally:
        store.close()


def test_with_the_key_at_hand_secrets_stay_redacted(
    web_store: WebStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that could open every sealed value still shows only the marker."""
    monkeypatch.setenv("STATESYNC_PASSPHRASE", PASSPHRASE)
    with serve_web(web_store.url) as url:
        assert "KeyFailure" not in get(url + "/env/vault").text
        vault = get(url + "/snap/vault/file/config.json").text  # sealed whole: read with the key
        assert "db7.internal" in vault and SECRET_MARKER_HTML in vault
        assert SECRET_MARKER_HTML in get(url + "/snap/vault/file/deep/nested/app.yaml").text
        assert SECRET_MARKER_HTML in get(url + "/snap/prod/file/config.json").text
        diff = get(url + "/diff?a=prod&b=vault").text
        assert "db9.internal" in diff and "db7.internal" in diff
        assert "its content is never shown" in get(url + "/snap/prod/file/.env").text
        get(url + "/snap/vault/file/.env", 404)  # left out: --encrypt all alone keeps secrets home
