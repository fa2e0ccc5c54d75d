"""``statesync info``: the resolved store, config file, environment, keys and folders.

Text for a person, or one JSON object under ``--json`` (with ``format_version``).
It opens no store: it shows what a command would use before anything runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

Handler = Callable[[argparse.Namespace], Any]
AddCommand = Callable[[str, Handler, str], argparse.ArgumentParser]


def add_info_command(add: AddCommand) -> None:
    """Register ``info`` with the CLI's ``add`` helper."""
    sp = add(
        "info",
        cmd_info,
        "show the store, config file, environment, keys and folders statesync will use",
    )
    sp.add_argument("--env", default="default", metavar="ENV", help="the environment to resolve")


def cmd_info(args: argparse.Namespace) -> Any:
    """The :class:`statesync.info.Info` as a dict under ``--json``; else print text."""
    from statesync.cli.context import config
    from statesync.cli.output import jsonable
    from statesync.info import describe

    doc = jsonable(describe(config(args)))
    if args.json:
        return doc
    if not args.quiet:
        print(render_info(doc))
    return None


def _resolved(item: dict[str, Any]) -> str:
    value = item["value"]
    return f"{value if value is not None else '(none)'}  [{item['source']}]"


def _file(item: dict[str, Any]) -> str:
    return f"{item['path']}{'' if item['exists'] else '  (not there yet)'}"


def render_info(doc: dict[str, Any]) -> str:
    """The info document as aligned ``name: value`` lines."""
    rows = [
        ("statesync", doc["version"]),
        ("store", _resolved(doc["store"])),
        ("config file", _resolved(doc["config_file"])),
        ("environment", _resolved(doc["env"])),
        ("recipients", ", ".join(doc["recipients"]) or "(none configured)"),
        ("identities", ", ".join(doc["identities"]) or "(none given)"),
        ("passphrase", _resolved(doc["passphrase"])),
        ("signing key", _file(doc["signing_key"])),
        ("trust policy", _file(doc["trust_policy"])),
        ("store pins", _file(doc["store_pins"])),
        *((f"{name} folder", path) for name, path in doc["folders"].items()),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name + ':':<{width + 1}} {value}" for name, value in rows]
    if doc["environment"]:
        lines.append("variables:")
        lines.extend(f"  {k}={v}" for k, v in doc["environment"].items())
    return "\n".join(lines)
