"""``statesync serve``: run the HTTP server; ``statesync serve tokens ...``: manage its tokens.

The server listens on loopback unless TLS and tokens are configured; it
refuses anything else. Starlette and uvicorn are imported only when the
server actually starts.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from statesync.errors import MissingExtra, UsageError, install_command

if TYPE_CHECKING:
    import socket

Handler = Callable[[argparse.Namespace], Any]
AddCommand = Callable[[str, Handler, str], argparse.ArgumentParser]
DEFAULT_LISTEN = "127.0.0.1:8470"


def add_serve_command(add: AddCommand, common: argparse.ArgumentParser) -> None:
    """Register ``serve`` and ``serve tokens add|list|remove`` with the CLI's ``add`` helper."""
    sp = add(
        "serve",
        cmd_serve,
        "serve the store over HTTP: Terraform state backend, /healthz, /metrics (and the web view)",
    )
    sp.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help="address to listen on (port 0: any free port, printed at start)",
    )
    sp.add_argument(
        "--tls-cert", metavar="FILE", help="serve HTTPS with this PEM certificate (with --tls-key)"
    )
    sp.add_argument("--tls-key", metavar="FILE", help="the PEM private key of --tls-cert")
    sp.add_argument(
        "--tokens",
        metavar="FILE",
        help="token file (default: $XDG_CONFIG_HOME/statesync/serve-tokens.json)",
    )
    sp.add_argument(
        "--update-method",
        default="POST",
        choices=["POST", "PUT"],
        help="HTTP method Terraform stores states with (its update_method)",
    )
    sp.add_argument("--encrypt", choices=["all"], help="'all': seal every state whole")
    sp.add_argument(
        "--no-auth", action="store_true", help="no tokens: every caller is admin (loopback only)"
    )
    sp.add_argument(
        "--body-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="time a client may take to send a body (default 30)",
    )
    sp.add_argument(
        "--header-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="time a client may take to send a request line and headers (default 10)",
    )
    sub = sp.add_subparsers(dest="serve_command", metavar="tokens")
    tokens = sub.add_parser("tokens", help="manage the server's tokens", parents=[common])
    tsub = tokens.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    t = tsub.add_parser("add", help="make a token (printed once)", parents=[common])
    t.add_argument("name", metavar="NAME", help="a name for the token (who uses it)")
    t.add_argument(
        "--env",
        action="append",
        required=True,
        metavar="ENV_GLOB=ROLE",
        help="role read, write or admin on matching environments; repeatable",
    )
    t.set_defaults(fn=cmd_tokens_add)
    t = tsub.add_parser("list", help="list tokens (names and grants only)", parents=[common])
    t.set_defaults(fn=cmd_tokens_list)
    t = tsub.add_parser("remove", help="remove a token", parents=[common])
    t.add_argument("name", metavar="NAME", help="the token's name, as list shows it")
    t.set_defaults(fn=cmd_tokens_remove)
    for p in (tokens, *tsub.choices.values()):
        p.add_argument(
            "--tokens",
            metavar="FILE",
            default=argparse.SUPPRESS,
            help="token file (default: $XDG_CONFIG_HOME/statesync/serve-tokens.json)",
        )


def _token_path(args: argparse.Namespace) -> Path:
    from statesync.server.tokens import default_path

    given = getattr(args, "tokens", None)
    return Path(given) if given else default_path()


def cmd_tokens_add(args: argparse.Namespace) -> Any:
    from statesync.server import tokens

    grants = [tokens.Grant.parse(g) for g in args.env]
    path = _token_path(args)
    token = tokens.add(path, args.name, grants)
    return {
        "name": args.name,
        "token": token,
        "file": str(path),
        "note": "shown once: the file keeps only its hash",
    }


def cmd_tokens_list(args: argparse.Namespace) -> Any:
    from statesync.server import tokens

    table = tokens.load(_token_path(args))
    return {
        "tokens": [
            {
                "name": e.name,
                "created_at": e.created_at,
                "grants": {g.pattern: g.role for g in e.grants},
            }
            for e in table.entries
        ]
    }


def cmd_tokens_remove(args: argparse.Namespace) -> Any:
    from statesync.server import tokens

    entry = tokens.remove(_token_path(args), args.name)
    return {"removed": entry.name}


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``) as a pair; :class:`UsageError` if malformed."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise UsageError(f"--listen expects HOST:PORT, got {text!r}")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    import ipaddress  # lazy, like socket: statesync --help stays fast

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, tls: bool, tokens: int, no_auth: bool) -> None:
    """Refuse to run without tokens (unless ``no_auth`` on loopback), and to listen
    beyond loopback without TLS and tokens (:class:`UsageError`)."""
    loopback = is_loopback(host)
    if not loopback and (no_auth or not tls or tokens == 0):
        raise UsageError(
            f"refusing to listen on {host} (not loopback) without TLS "
            "(--tls-cert/--tls-key) and tokens"
        )
    if not no_auth and tokens == 0:
        raise UsageError(
            "no tokens: add one with 'statesync serve tokens add NAME --env "
            "ENV=ROLE', or run with --no-auth on loopback"
        )


def _uvicorn() -> Any:
    try:
        import uvicorn
    except ImportError:
        raise MissingExtra(
            f"statesync serve needs the 'server' extra: {install_command('server')}"
        ) from None
    return uvicorn


def cmd_serve(args: argparse.Namespace) -> Any:
    if getattr(args, "serve_command", None):
        raise UsageError("usage: statesync serve tokens add|list|remove")
    host, port = parse_listen(args.listen)
    if bool(args.tls_cert) != bool(args.tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    for flag, value in (
        ("--header-timeout", args.header_timeout),
        ("--body-timeout", args.body_timeout),
    ):
        if not 0 < value < 86400:  # also refuses nan
            raise UsageError(f"{flag} must be between 0 and 86400 seconds, not {value}")
    uvicorn = _uvicorn()
    from statesync.cli.context import open_store
    from statesync.server import context, tokens
    from statesync.server.app import create_app
    from statesync.server.metrics import Metrics
    from statesync.server.slowclients import with_head_timeout

    token_file = tokens.TokenFile(_token_path(args))
    count = 0 if args.no_auth else len(token_file.table().entries)
    check_exposure(host, bool(args.tls_cert), count, args.no_auth)
    settings = context.ServerSettings(
        update_method=args.update_method,
        body_timeout=args.body_timeout,
        encrypt_all=args.encrypt == "all",
        no_auth=args.no_auth,
    )
    store = open_store(args)
    ctx = context.ServerContext(store, token_file, settings, Metrics())
    sock = _bind(host, port)
    scheme = "https" if args.tls_cert else "http"
    shown = f"[{host}]" if ":" in host else host
    print(
        f"statesync serve: listening on {scheme}://{shown}:{sock.getsockname()[1]} "
        f"(store {store.url})",
        file=sys.stderr,
        flush=True,
    )
    _serve_log()
    config = uvicorn.Config(
        create_app(ctx),
        log_config=None,
        access_log=False,
        ssl_certfile=args.tls_cert,
        ssl_keyfile=args.tls_key,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=10,
        limit_concurrency=256,  # past it: 503, which Terraform retries
        h11_max_incomplete_event_size=64 * 1024,
        http=with_head_timeout(args.header_timeout),  # uvicorn has no deadline for headers
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        store.close()
    return {"stopped": f"{scheme}://{shown}:{sock.getsockname()[1]}"}


def _bind(host: str, port: int) -> socket.socket:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only when
    # the socket says it is TCP; without it Nagle holds a response's last small segment
    # until the client's delayed ACK, 40 ms on every request of a kept-alive connection.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _serve_log() -> None:
    """The request log (one line per request, nothing secret) goes to stderr at INFO."""
    import logging

    logging.getLogger("statesync.serve").setLevel(logging.INFO)
    if not logging.getLogger().handlers:
        logging.basicConfig(format="statesync: %(levelname)s: %(message)s")
