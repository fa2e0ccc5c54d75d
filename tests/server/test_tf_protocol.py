"""The http backend protocol and its refusals, through HTTP against a real server process.

Each refusal has the right status and leaves the store exactly as it was.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
import socket
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from statesync.api import Store
from statesync.backends import open_backend
from statesync.server import tokens as tokens_mod
from tests.server.serving import Server, add_token, cli, make_store, ok, serving


@dataclass
class Rig:
    server: Server
    store: str
    tokens: dict[str, str]
    token_file: Path

    def client(self, who: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=30)

    def objects(self) -> dict[str, bytes]:
        backend = open_backend(self.store)
        try:
            return {
                m.key: backend.get(m.key)[0]
                for m in backend.list("")
                if not m.key.startswith("locks/")
            }
        finally:
            backend.close()


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """One server for the module, with its own user folders (the autouse ones are per test)."""
    tmp = tmp_path_factory.mktemp("tfproto")
    with pytest.MonkeyPatch.context() as mp:
        for var in ("CONFIG", "DATA", "STATE", "CACHE"):
            mp.setenv(f"XDG_{var}_HOME", str(tmp / f"xdg-{var.lower()}"))
        store = (tmp / "store").as_uri()
        make_store(store)
        path = tmp / "tokens.json"
        grants = {
            "reader": ["prod=read"],
            "writer": ["prod=write", "scratch*=write"],
            "admin": ["prod=admin", "scratch*=admin"],
            "devonly": ["dev=admin"],
        }
        tokens = {
            name: tokens_mod.add(path, name, [tokens_mod.Grant.parse(g) for g in gs])
            for name, gs in grants.items()
        }
        with serving(store, path, "--body-timeout", "1", "--header-timeout", "1") as server:
            yield Rig(server, store, tokens, path)
    log = "".join(server.log)
    assert not any(t in log for t in tokens.values())
    assert re.search(r"INFO: [A-Z]+ /tf/\S+ \d{3} \S+ [\d.]+ms\n", log)  # a line per request


def state(serial: int, lineage: str = "L1", **outputs: object) -> bytes:
    doc = {
        "version": 4,
        "terraform_version": "1.0.3",
        "serial": serial,
        "lineage": lineage,
        "outputs": {k: {"value": v, "type": "string"} for k, v in outputs.items()},
        "resources": [],
    }
    return json.dumps(doc, indent=2).encode() + b"\n"


def md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


def post(
    c: httpx.Client, path: str, body: bytes, method: str = "POST", **params: str
) -> httpx.Response:
    return c.request(
        method,
        path,
        content=body,
        params=params or None,
        headers={"Content-MD5": md5(body), "Content-Type": "application/json"},
    )


def lock_info(lock_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "ID": lock_id or str(uuid.uuid4()),
            "Operation": "OperationTypeApply",
            "Info": "",
            "Who": "alice@laptop",
            "Version": "1.0.3",
            "Created": "2026-01-01T00:00:00Z",
            "Path": "",
        }
    ).encode()


def test_refusals_leave_the_store_untouched(rig: Rig) -> None:
    before = rig.objects()
    body = state(1, n="1")
    with rig.client(None) as anon:
        for method in ("GET", "POST", "LOCK", "DELETE"):
            r = anon.request(method, "/tf/prod", content=body)
            assert r.status_code == 401 and r.text == "unauthorized"
            assert r.headers["WWW-Authenticate"].startswith("Basic")
        bad = {"Authorization": "Basic " + base64.b64encode(b"writer:nope").decode()}
        assert anon.get("/tf/prod", headers=bad).status_code == 401
        assert anon.get("/tf/prod", headers={"Authorization": "Bearer sst_x"}).status_code == 401
        assert anon.get("/tf/prod", headers={"Authorization": "Basic !!"}).status_code == 401
    with rig.client("reader") as reader:
        assert reader.get("/tf/prod").status_code == 404  # may read: there is nothing
        assert post(reader, "/tf/prod", body).status_code == 403
        assert post(reader, "/tf/prod", lock_info(), method="LOCK").status_code == 403
    with rig.client("devonly") as dev:
        assert dev.get("/tf/prod").status_code == 403
        assert post(dev, "/tf/prod", body).status_code == 403
    with rig.client("admin") as admin:
        for path in ("/tf/%2E%2E", "/tf/..%2Fstatesync.json", "/tf/a%00b", "/tf/.hidden%2F"):
            assert post(admin, path, body).status_code in (400, 404), path
        r = admin.post("/tf/prod", content=body, headers={"Content-MD5": md5(b"other")})
        assert r.status_code == 400 and "Content-MD5" in r.text
        assert post(admin, "/tf/prod", b"not json").status_code == 400
    assert rig.objects() == before


def raw(rig: Rig, request: bytes) -> bytes:
    """Send raw bytes; the server's answer (read until it closes or 64 KiB)."""
    url = urlsplit(rig.server.url)
    with socket.create_connection((url.hostname or "", url.port or 0), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while len(answer) < 65536 and (chunk := sock.recv(65536)):
            answer += chunk
            if b"\r\n\r\n" in answer:
                break
        return answer


def test_oversized_and_slow_bodies_are_refused(rig: Rig) -> None:
    before = rig.objects()
    auth = f"Authorization: Bearer {rig.tokens['admin']}\r\n".encode()
    big = b"POST /tf/prod HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Length: 70000000\r\n\r\n{}"
    assert raw(rig, big).startswith(b"HTTP/1.1 413")
    slow = (
        b"POST /tf/prod HTTP/1.1\r\nHost: x\r\n" + auth + b'Content-Length: 100\r\n\r\n{"serial":'
    )  # then nothing: the client stalls
    assert raw(rig, slow).startswith(b"HTTP/1.1 408")
    assert rig.objects() == before


def test_a_state_whose_chunk_gc_removed_is_stored_again(rig: Rig) -> None:
    """The server's chunk index knew the old state's chunk; gc removed it; rolling back stores it.

    The server keeps the store's chunk index in memory between writes: a
    belief from before a gc must not make it name a chunk that gc deleted.
    """
    env = "/tf/scratch-gc"
    old, new = state(1, big="a" * 5000), state(2, big="b" * 5000)
    with rig.client("admin") as admin:
        assert post(admin, env, old).status_code == 200
        assert post(admin, env, new).status_code == 200
        ok(
            cli(
                "--store",
                rig.store,
                "gc",
                "--env",
                "scratch-gc",
                "--keep-last",
                "1",
                "--grace",
                "0",
            )
        )
        assert post(admin, env, old).status_code == 200  # an admin's rollback: serial down
        assert admin.get(env).content == old
    ok(cli("--store", rig.store, "verify", "--read-data"))
    out = rig.token_file.parent / "gc-pull"
    ok(cli("--store", rig.store, "pull", str(out), "--env", "scratch-gc"))
    assert (out / "terraform.tfstate").read_bytes() == old


def drip(rig: Rig, start: bytes, rest: bytes, every: float = 0.2) -> tuple[bytes, float]:
    """Send ``start``, then ``rest`` a byte every ``every`` s; the answer and the seconds it took.

    Stops when the server has answered 408 or closed the connection.
    """
    url = urlsplit(rig.server.url)
    began = time.monotonic()
    answer = b""
    with socket.create_connection((url.hostname or "", url.port or 0), timeout=30) as sock:
        sock.sendall(start)
        sock.settimeout(every)
        for i in range(len(rest) + 1000):
            try:
                if i < len(rest):
                    sock.sendall(rest[i : i + 1])
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if not chunk:
                break
            answer += chunk
            if b"\r\n\r\n" in answer.partition(b"HTTP/1.1 408")[2]:
                break
    return answer, time.monotonic() - began


def test_slow_clients_get_408_within_the_limit_and_write_nothing(rig: Rig) -> None:
    """Headers dripped, no request at all, a kept-alive connection's next request, a body."""
    before = rig.objects()
    auth = f"Authorization: Bearer {rig.tokens['admin']}\r\n".encode()
    body = state(1)
    headers = b"Host: x\r\n" + auth + f"Content-Length: {len(body)}\r\n\r\n".encode()
    cases = {
        "dripped headers": (b"POST /tf/prod HTTP/1.1\r\n", headers + body),
        "nothing sent": (b"", b""),
        "dripped body": (b"POST /tf/prod HTTP/1.1\r\n" + headers, body),
    }
    for name, (start, rest) in cases.items():
        answer, seconds = drip(rig, start, rest)
        assert answer.startswith(b"HTTP/1.1 408"), (name, answer[:200])
        assert seconds < 4, (name, seconds)  # limits are 1 s; a loaded machine is slow
    kept = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    answer, _ = drip(rig, kept + b"POST /tf/prod HTTP/1.1\r\n", headers + body)
    assert answer.startswith(b"HTTP/1.1 200") and b"HTTP/1.1 408" in answer, answer[:400]
    assert rig.objects() == before
    with rig.client("admin") as admin:  # the server still answers everyone else
        assert admin.get("/tf/prod").status_code in (200, 404)


def test_kept_alive_requests_are_not_held_by_nagle(rig: Rig) -> None:
    """Each answer leaves at once (TCP_NODELAY): no 40 ms delayed-ACK wait per request."""
    url = urlsplit(rig.server.url)
    times = []
    with socket.create_connection((url.hostname or "", url.port or 0), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as Go's client does
        for _ in range(15):
            began = time.perf_counter()
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while not answer.endswith(b"}"):
                answer += sock.recv(4096)
            times.append(time.perf_counter() - began)
    assert sorted(times)[len(times) // 2] < 0.035, times  # Nagle's floor is 40 ms


def test_the_listening_socket_is_tcp_so_connections_get_nodelay() -> None:
    from statesync.cli.serve import _bind

    sock = _bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP  # asyncio's _set_nodelay checks exactly this
    finally:
        sock.close()


def test_header_timeout_must_be_a_positive_number(tmp_path: Path) -> None:
    for bad in ("0", "-1", "nan", "1e9"):
        proc = cli("serve", "--store", (tmp_path / "s").as_uri(), "--header-timeout", bad)
        assert proc.returncode == 2, proc.stderr
        assert "--header-timeout" in proc.stderr


def test_lock_fences_writes_and_force_unlock_needs_admin(rig: Rig) -> None:
    env = "/tf/scratch-lock"
    with rig.client("writer") as w, rig.client("admin") as a:
        held = lock_info()
        held_id = json.loads(held)["ID"]
        assert post(w, env, held, method="LOCK").status_code == 200
        assert post(w, env, held, method="LOCK").status_code == 200  # the client retries
        other = post(a, env, lock_info(), method="LOCK")
        assert other.status_code == 423 and other.content == held  # the holder, verbatim
        assert post(w, env, state(1)).status_code == 423  # no ID while locked
        assert post(w, env, state(1), ID="wrong").status_code == 423
        assert post(w, env, state(1), ID=held_id).status_code == 200
        assert post(w, env, b"", method="UNLOCK").status_code == 403  # force: admins only
        assert post(w, env, lock_info(), method="UNLOCK").status_code == 423
        assert post(a, env, b"", method="UNLOCK").status_code == 200  # force-unlock
        assert post(w, env, state(2), ID=held_id).status_code == 409  # its lock is gone
        assert post(w, env, held, method="UNLOCK").status_code == 200  # gone: fine
        # the layout for proxies: POST/DELETE on .../lock
        assert post(w, env + "/lock", held).status_code == 200
        assert post(w, env + "/lock", lock_info(), method="LOCK").status_code == 423
        assert post(w, env + "/lock", held, method="DELETE").status_code == 200
        assert w.get(env).content == state(1)


def test_history_is_protected_unless_admin(rig: Rig) -> None:
    env = "/tf/scratch-history"
    with rig.client("writer") as w, rig.client("admin") as a:
        assert post(w, env, state(5, "L1")).status_code == 200
        assert post(w, env, state(4, "L1")).status_code == 409  # serial went down
        assert post(w, env, state(6, "L2")).status_code == 409  # another lineage
        got = w.get(env)
        assert got.content == state(5, "L1") and got.headers["Content-MD5"] == md5(got.content)
        assert post(a, env, state(1, "L2")).status_code == 200  # an admin may
        assert post(w, env, state(2, "L2"), method="PUT").status_code == 405  # not configured
        assert w.request("DELETE", env).status_code == 200
        assert w.get(env).status_code == 404
    with rig.client(None) as anon:
        assert anon.get("/healthz").json() == {"status": "ok"}
        metrics = anon.get("/metrics").text
        assert "statesync_http_requests_total" in metrics and "statesync_tf_state_writes" in metrics


def test_token_file_is_private_and_hashed(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    token = add_token(path, "ci", "prod=write")
    assert path.stat().st_mode & 0o777 == 0o600
    assert token.encode() not in path.read_bytes()
    assert hashlib.sha256(token.encode()).hexdigest().encode() in path.read_bytes()


def test_log_diff_and_rollback_undo_an_apply(rig: Rig) -> None:
    env = "scratch-rollback"
    with rig.client("writer") as w:
        assert post(w, f"/tf/{env}", state(1, n="a")).status_code == 200
        assert post(w, f"/tf/{env}", state(2, n="b")).status_code == 200
        with Store.open(rig.store) as store:
            newest, oldest = (e.snapshot for e in store.log(env))
            changed = store.diff(oldest, newest)
        assert "terraform.tfstate" in json.dumps(dataclasses.asdict(changed))
        ok(cli("--store", rig.store, "rollback", env, oldest[:12]))
        assert w.get(f"/tf/{env}").content == state(1, n="a")  # the apply is undone
        assert post(w, f"/tf/{env}", state(2, n="c")).status_code == 200  # and goes on from there


def test_concurrent_clients_lose_nothing(rig: Rig) -> None:
    """Clients on their own environments all succeed; racing writers on one are never lost."""

    def own_env(i: int) -> list[int]:
        with rig.client("writer") as c:
            codes = [
                post(c, f"/tf/scratch-many-{i}", state(s, n=str(i))).status_code for s in (1, 2, 3)
            ]
            return [*codes, int(c.get(f"/tf/scratch-many-{i}").content == state(3, n=str(i)))]

    def racer(i: int) -> tuple[int, bytes]:
        body = state(10 + i, n=f"racer{i}")
        with rig.client("writer") as c:
            return post(c, "/tf/scratch-race", body).status_code, body

    with ThreadPoolExecutor(8) as pool:
        assert all(codes == [200, 200, 200, 1] for codes in pool.map(own_env, range(8)))
        raced = list(pool.map(racer, range(8)))
    assert {code for code, _ in raced} <= {200, 409} and any(c == 200 for c, _ in raced)
    with Store.open(rig.store) as store:
        kept = {e.snapshot for e in store.log("scratch-race", limit=50)}
        assert len(kept) == sum(code == 200 for code, _ in raced)  # one snapshot per 200


def test_tokens_added_or_removed_apply_at_once(rig: Rig) -> None:
    late = tokens_mod.add(rig.token_file, "late", [tokens_mod.Grant.parse("prod=read")])
    with httpx.Client(base_url=rig.server.url, headers={"Authorization": f"Bearer {late}"}) as c:
        assert c.get("/tf/prod").status_code == 404  # known now: may read (nothing there)
        tokens_mod.remove(rig.token_file, "late")
        assert c.get("/tf/prod").status_code == 401
