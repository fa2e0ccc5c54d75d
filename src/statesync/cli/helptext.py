"""Help a person can learn from: defaults, examples, environment variables, exit codes.

:func:`decorate` walks the finished parser tree (so it also covers options
and commands added later by any module): it states every meaningful default
in the option's help, gives each command an epilog of examples and the
environment variables it reads (:data:`COMMANDS`), and gives the top level
the exit codes of ARCHITECTURE.md §5. An ``--env`` whose default is
``default`` falls back to ``STATESYNC_ENV`` and ``env`` in statesync.toml
(resolved by :mod:`statesync.cli.context`).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from statesync.cli.context import ENV_FROM_CONFIG

DEFAULT_ENV = "default"
ENV_NOTE = "(default: $STATESYNC_ENV, else env in statesync.toml, else 'default')"

EXIT_CODES = (
    ("0", "success"),
    ("1", "error (not found, bad document, store unreachable)"),
    ("2", "usage: bad flag, bad URL, bad argument, bad statesync.toml"),
    ("3", "conflict: someone else changed the shared state first"),
    ("4", "integrity: checksum, signature, tamper, rollback, damage"),
    ("5", "locked by another holder"),
    ("6", "key or decryption failure (no passphrase, wrong key, passphrase command failed)"),
)

#: Every environment variable statesync reads, with what it does.
VARIABLES: dict[str, str] = {
    "STATESYNC_STORE": "store URL or path when --store is not given",
    "STATESYNC_CONFIG": "the statesync.toml to use when --config is not given",
    "STATESYNC_ENV": "the environment when --env is not given",
    "STATESYNC_PASSPHRASE": "passphrase of passphrase recipients (_<LABEL> for one label)",
    "STATESYNC_PASSPHRASE_FILE": "read the passphrase from this file",
    "STATESYNC_PASSPHRASE_COMMAND": "run this command; its stdout is the passphrase",
    "STATESYNC_SIGNING_KEY": "Ed25519 signing key file (default: in the config folder)",
    "STATESYNC_RETRY_BUDGET": "how long one store call retries transient faults (0: off)",
    "AWS_PROFILE, AWS_ENDPOINT_URL": "s3:// credentials (boto3 chain) and endpoint",
    "AZURE_STORAGE_CONNECTION_STRING": "az:// account, key and endpoint (or azure-identity)",
    "GOOGLE_APPLICATION_CREDENTIALS, STORAGE_EMULATOR_HOST": "gs:// credentials and endpoint",
    "XDG_CONFIG_HOME, XDG_DATA_HOME, XDG_STATE_HOME, XDG_CACHE_HOME": "per-user folders",
}

STORE = ("STATESYNC_STORE", "STATESYNC_CONFIG", "STATESYNC_RETRY_BUDGET")
ENV = ("STATESYNC_ENV",)
KEYS = ("STATESYNC_PASSPHRASE", "STATESYNC_PASSPHRASE_FILE", "STATESYNC_PASSPHRASE_COMMAND")
SIGN = ("STATESYNC_SIGNING_KEY",)


class Help(NamedTuple):
    """A command's epilog: example command lines and the variables it reads."""

    examples: tuple[str, ...]
    variables: tuple[str, ...] = STORE


#: Keyed by the command path after ``statesync`` ("push", "keys init").
COMMANDS: dict[str, Help] = {
    "init": Help(("statesync --store s3://bucket/team init", "statesync init  # the local store")),
    "push": Help(
        (
            "statesync push ./state --env dev -m 'nightly' --tag ticket=OPS-12",
            "statesync push ./state --env dev --rebase",
            "statesync push ./state --env prod --include-secrets",
            "statesync push ./state --dry-run",
        ),
        STORE + ENV + KEYS + SIGN,
    ),
    "pull": Help(
        (
            "statesync pull ./state --env dev",
            "statesync pull ./restore --snapshot 3f2a9c",
            "STATESYNC_PASSPHRASE_COMMAND='pass show statesync' statesync pull ./state",
        ),
        STORE + ENV + KEYS,
    ),
    "status": Help(("statesync status ./state --env dev",), STORE + ENV + KEYS),
    "log": Help(
        ("statesync log --env prod --limit 5", "statesync --json log --all-envs"), STORE + ENV
    ),
    "show": Help(("statesync show prod", "statesync show 3f2a9c")),
    "diff": Help(("statesync diff staging prod", "statesync diff 3f2a9c 8be104"), STORE + KEYS),
    "export": Help(
        (
            "statesync export --env prod -o prod.tar.zst --include-binaries",
            "statesync export --snapshot 3f2a9c -o state.yaml --path 'config/**'",
            "statesync export --env dev -o agent.json --format wassette",
        ),
        STORE + KEYS,
    ),
    "import": Help(
        (
            "statesync import prod.tar.zst --env staging",
            "statesync import state.yaml --skip-existing",
        ),
        STORE + ENV + KEYS + SIGN,
    ),
    "verify": Help(("statesync verify", "statesync verify --env prod --read-data")),
    "repair": Help(("statesync repair", "statesync repair --read-data")),
    "envs": Help(("statesync envs",)),
    "lock": Help(
        (
            "statesync lock prod --ttl 30m --purpose 'db migration'",
            "statesync lock prod --renew LOCK_ID",
        )
    ),
    "locks": Help(("statesync locks",)),
    "unlock": Help(("statesync unlock prod LOCK_ID", "statesync unlock prod LOCK_ID --force")),
    "promote": Help(("statesync promote staging prod -m 'release 42'",), STORE + KEYS + SIGN),
    "promotion": Help(
        ("statesync promotion show", "statesync promotion allow 'dev->staging' 'staging->prod'")
    ),
    "rollback": Help(("statesync rollback prod 3f2a9c -m 'back to Monday'",), STORE + KEYS + SIGN),
    "keys": Help(("statesync keys list prod",), STORE + KEYS),
    "keys init": Help(
        (
            "statesync keys init prod --recipient passphrase:team",
            "statesync keys init prod --recipient aws-kms:alias/statesync",
        ),
        STORE + KEYS + SIGN,
    ),
    "keys add-recipient": Help(
        ("statesync keys add-recipient prod keyfile:~/.config/statesync/ci.key",),
        STORE + KEYS + SIGN,
    ),
    "keys remove-recipient": Help(
        ("statesync keys remove-recipient prod keyfile:3b1f...",), STORE + KEYS + SIGN
    ),
    "keys list": Help(("statesync keys list prod",), STORE),
    "keys rotate": Help(("statesync keys rotate prod",), STORE + KEYS + SIGN),
    "keys keyfile": Help(("statesync keys keyfile new ~/.config/statesync/ci.key",), ()),
    "keys keyfile new": Help(("statesync keys keyfile new ~/.config/statesync/ci.key",), ()),
    "keys signing": Help(("statesync keys signing new",), SIGN),
    "keys signing new": Help(
        ("statesync keys signing new", "statesync keys signing new ./ci.key"), SIGN
    ),
    "keys trust": Help(("statesync keys trust prod ed25519:AAAA... --require-signed",)),
    "keys pin": Help(("statesync keys pin", "statesync keys pin --reset")),
    "keys untrust": Help(("statesync keys untrust prod ed25519:AAAA...",)),
    "serve": Help(
        (
            "statesync serve --no-auth",
            "statesync serve --listen 0.0.0.0:8443 --tls-cert c.pem --tls-key k.pem",
        ),
        STORE + KEYS + SIGN,
    ),
    "serve tokens": Help(("statesync serve tokens list",), ()),
    "serve tokens add": Help(
        ("statesync serve tokens add ci --env 'dev*=write' --env prod=read",), ()
    ),
    "serve tokens list": Help(("statesync serve tokens list",), ()),
    "serve tokens remove": Help(("statesync serve tokens remove ci",), ()),
    "watch": Help(
        (
            "statesync watch ./state --env dev --follow",
            "statesync watch ./state --env dev --metrics 127.0.0.1:9470",
            "statesync watch ./state --env dev --exec-on push 'echo pushed'",
        ),
        STORE + ENV + KEYS + SIGN,
    ),
    "gc": Help(
        (
            "statesync gc --dry-run --keep-last 10 --keep-daily 7",
            "statesync gc --env dev --keep-within 30d",
        )
    ),
    "gc policy": Help(
        (
            "statesync gc policy set --env prod --keep-daily 14",
            "statesync gc policy show --env prod",
        )
    ),
    "cat": Help(("statesync cat prod config/app.json",), STORE + ENV + KEYS),
    "info": Help(("statesync info", "statesync --json info"), STORE + ENV + KEYS + SIGN),
    "completion": Help(
        (
            "source <(statesync completion bash)",
            "statesync completion zsh > ~/.zfunc/_statesync",
            "statesync completion fish > ~/.config/fish/completions/statesync.fish",
        ),
        (),
    ),
    "man": Help(
        ("statesync man | man -l -", "statesync man > /usr/local/share/man/man1/statesync.1"), ()
    ),
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's lines as written; wraps option help as usual."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


class VersionAction(argparse.Action):
    """``--version``: statesync, Python and the platform, then exit 0."""

    def __init__(
        self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, help: str | None = None
    ) -> None:
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(version_text())
        parser.exit()


def version_text() -> str:
    """``statesync 0.1.0 (Python 3.11.2 CPython; Linux-6.1.0-x86_64-with-glibc2.36)``."""
    import platform

    from statesync.version import __version__

    python = f"{platform.python_version()} {platform.python_implementation()}"
    return f"statesync {__version__} (Python {python}; {platform.platform()})"


def walk(parser: argparse.ArgumentParser, path: str = "") -> Iterator[tuple[str, Any]]:
    """(command path, parser) for ``parser`` and every subcommand below it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, f"{path} {name}".strip())


def decorate(root: argparse.ArgumentParser) -> None:
    """Defaults, examples, environment variables and exit codes, over the whole tree."""
    for path, parser in walk(root):
        parser.formatter_class = HelpFormatter
        parser.epilog = _root_epilog() if not path else _epilog(COMMANDS.get(path))
        for action in parser._actions:
            _annotate(parser, action)


def _annotate(parser: argparse.ArgumentParser, action: argparse.Action) -> None:
    """State the default in ``action``'s help, where there is one worth stating."""
    if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):
        return
    if "--env" in action.option_strings and (
        action.default == DEFAULT_ENV or getattr(action, ENV_FROM_CONFIG, False)
    ):
        if action.default == DEFAULT_ENV:
            action.default = None
            action.help = f"{action.help or 'the environment'} {ENV_NOTE}"
            setattr(action, ENV_FROM_CONFIG, True)
        parser.set_defaults(**{ENV_FROM_CONFIG: True})
        return
    default = action.default
    if (
        action.nargs == 0
        or isinstance(action, argparse._CountAction)
        or default in (None, "", [], argparse.SUPPRESS)
        or "default" in (action.help or "").lower()
    ):
        return
    action.help = f"{action.help or ''} (default: %(default)s)".strip()


def _epilog(entry: Help | None) -> str:
    entry = entry or Help(())
    parts = []
    if entry.examples:
        parts.append("examples:\n" + "\n".join(f"  {line}" for line in entry.examples))
    if entry.variables:
        parts.append(_variables(entry.variables))
    parts.append("Global flags (--store, --config, --json, -q, -v, --identity): statesync --help")
    return "\n\n".join(parts)


def _variables(names: Sequence[str], width: int = 28) -> str:
    width = min(width, max(len(n) for n in names))
    lines = [
        f"  {n:<{width}}  {VARIABLES[n]}"
        if len(n) <= width
        else f"  {n}\n  {'':<{width}}  {VARIABLES[n]}"
        for n in names
    ]
    return "environment:\n" + "\n".join(lines)


ROOT_EXAMPLES = (
    "statesync init",
    "statesync push ./state --env dev -m 'first'",
    "statesync pull ./copy --env dev",
    "statesync log --env dev",
    "statesync info  # what statesync will use, before it does anything",
)


def _root_epilog() -> str:
    examples = ROOT_EXAMPLES
    codes = "exit codes:\n" + "\n".join(f"  {c}  {text}" for c, text in EXIT_CODES)
    return "\n\n".join(
        [
            "examples:\n" + "\n".join(f"  {line}" for line in examples),
            _variables(list(VARIABLES)),
            "Precedence: flag, then environment variable, then statesync.toml, then default.",
            codes,
            "Run 'statesync COMMAND --help' for a command's flags and examples.",
        ]
    )
