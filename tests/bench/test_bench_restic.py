"""bench/bench_restic.py: the counting forwarder (fast) and a tiny end-to-end run (long).

No timing assertions: the forwarder's counts, and the bench's deterministic
figures (both tools ran every case, restores equal the source, bytes moved).
"""

from __future__ import annotations

import http.client
import http.server
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from s3count import Forwarder  # type: ignore[import-not-found]  # noqa: E402  (bench/ is not a package)


class _Sink(http.server.BaseHTTPRequestHandler):
    """Reads every request body (plain or chunked) and answers 200 with its size."""

    protocol_version = "HTTP/1.1"

    def do_PUT(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            n = 0
            while size := int(self.rfile.readline().split(b";")[0], 16):
                n += len(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
        else:
            n = len(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        body = str(n).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def test_forwarder_counts_requests_and_body_bytes_on_one_connection(upstream: int) -> None:
    fwd = Forwarder(("127.0.0.1", upstream))
    before = fwd.counts.snapshot()
    conn = http.client.HTTPConnection("127.0.0.1", fwd.port, timeout=10)
    conn.request("PUT", "/b/k1", body=b"x" * 70_000)
    assert conn.getresponse().read() == b"70000"
    conn.request("PUT", "/b/k2", body=iter([b"a" * 10, b"b" * 5]), encode_chunked=True)
    assert conn.getresponse().read() == b"15"
    conn.request("GET", "/b/k1")
    assert conn.getresponse().read() == b"ok"
    conn.close()
    d = fwd.counts.delta(before, fwd.counts.snapshot())
    assert d["requests_by_method"] == {"PUT": 2, "GET": 1}
    assert (d["requests"], d["uploaded_bytes"]) == (3, 70_015)


def test_forwarder_refuses_a_non_loopback_upstream() -> None:
    with pytest.raises(ValueError, match="loopback"):
        Forwarder(("10.0.0.1", 80))


@pytest.mark.long
@pytest.mark.skipif(shutil.which("restic") is None, reason="restic not installed")
def test_tiny_run_on_the_local_store(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH / "bench_restic.py"),
            *("--workdir", str(tmp_path / "w"), "--size", "2MiB", "--files", "20"),
            *("--small-files", "200", "--rounds", "1", "--backends", "local"),
            *("--no-install", "--json"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    fig = json.loads(proc.stdout)
    cases = fig["backends"]["local"]
    assert set(cases) == {
        "full_push",
        "nothing_changed",
        "one_pct_changed",
        "restore",
        "encrypt_all",
        "small_first_push",
        "small_nothing_changed",
    }
    for row in cases.values():
        assert row["statesync"]["cpu"] > 0 and row["restic"]["cpu"] > 0
        assert row["statesync"]["rss"] > 0 and row["restic"]["rss"] > 0
    full = cases["full_push"]
    assert full["statesync"]["uploaded"] > 0.5 * fig["mixed"]["bytes"]
    assert full["restic"]["uploaded"] > 0.5 * fig["mixed"]["bytes"]
    assert cases["nothing_changed"]["statesync"]["uploaded"] == 0
