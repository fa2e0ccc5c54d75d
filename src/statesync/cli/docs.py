"""``statesync completion SHELL`` and ``statesync man``: generated from the parser itself.

Both walk the same parser ``statesync --help`` prints, so they cannot drift
from it. shtab and argparse-manpage are imported only when these commands
run, so ``statesync --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

SHELLS = ("bash", "zsh", "fish")
Handler = Callable[[argparse.Namespace], Any]
AddCommand = Callable[[str, Handler, str], argparse.ArgumentParser]


def add_doc_commands(add: AddCommand) -> None:
    """Register ``completion`` and ``man`` with the CLI's ``add`` helper."""
    sp = add("completion", cmd_completion, "print a shell completion script (bash, zsh, fish)")
    sp.add_argument("shell", choices=SHELLS, metavar="SHELL", help="one of: " + ", ".join(SHELLS))
    add("man", cmd_man, "print the manual page (roff), generated from this parser")


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script of ``parser`` for ``shell``; :class:`UsageError` for another."""
    import shtab

    from statesync.errors import UsageError

    if shell not in SHELLS:
        raise UsageError(f"completion: unknown shell {shell!r} (known: {', '.join(SHELLS)})")
    _mark_paths(parser, shtab)
    script: str = shtab.complete(parser, shell=shell)
    return script


def _mark_paths(parser: argparse.ArgumentParser, shtab: Any) -> None:
    """Complete folder arguments with folders and file arguments with files."""
    from statesync.cli.helptext import walk

    for _, sub in walk(parser):
        for action in sub._actions:
            meta = action.metavar if isinstance(action.metavar, str) else ""
            if meta in ("DIR",):
                action.complete = shtab.DIRECTORY
            elif meta in ("FILE", "PATH"):
                action.complete = shtab.FILE


def man_page(parser: argparse.ArgumentParser) -> str:
    """The whole manual page of ``parser`` in roff: every command, option and default,
    plus examples, environment (with precedence) and exit status sections.
    Changes ``parser``'s epilog: pass a freshly built one."""
    from argparse_manpage.manpage import Manpage

    from statesync.version import __version__

    parser.epilog = None  # its parts become proper sections below
    page = Manpage(
        parser,
        _data={
            "project_name": "statesync",
            "version": __version__,
            "manual_title": "statesync manual",
            "manual_section": 1,
            "description": "versioned, verified snapshots of application and agent state",
        },
        format="single-commands-section",
    )
    for heading, content in _sections(parser):
        page.add_section(heading, ">", content)
    return "\n".join(_text_safe(line) for line in str(page).split("\n"))


#: The roff requests the generator writes; any other line starting with '.' is text.
_REQUESTS = {".TH", ".SH", ".SS", ".TP", ".B", ".RS", ".RE", ".nf", ".fi", ".UR", ".UE", ".PP"}


def _text_safe(line: str) -> str:
    """A text line that begins with ' or . would be read as a roff request: guard it."""
    if line.startswith("'") or (line.startswith(".") and line.split(" ")[0] not in _REQUESTS):
        return "\\&" + line
    return line


def _sections(parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
    """EXAMPLES (of the commands ``parser`` has), ENVIRONMENT and EXIT STATUS, in roff."""
    from statesync.cli.helptext import COMMANDS, EXIT_CODES, ROOT_EXAMPLES, VARIABLES, walk

    present = {path for path, _ in walk(parser)}

    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace("-", "\\-")

    def items(pairs: list[tuple[str, str]]) -> str:
        return "\n".join(f".TP\n.B {esc(k)}\n{esc(v)}" for k, v in pairs)

    def lines(block: tuple[str, ...]) -> str:
        return ".nf\n" + "\n".join(esc(line) for line in block) + "\n.fi"

    examples = lines(ROOT_EXAMPLES) + "".join(
        f"\n.SS {esc(name)}\n{lines(entry.examples)}"
        for name, entry in COMMANDS.items()
        if entry.examples and name in present
    )
    precedence = (
        "Every setting resolves in this order: flag, then environment variable, "
        "then statesync.toml, then the default. Run statesync info to see the result."
    )
    return [
        ("examples", examples),
        ("environment", esc(precedence) + "\n" + items(list(VARIABLES.items()))),
        ("exit status", items(list(EXIT_CODES))),
    ]


def _parser(args: argparse.Namespace) -> argparse.ArgumentParser:
    """The root parser, which ``build`` leaves in every namespace (no import cycle)."""
    root: argparse.ArgumentParser = args.root_parser
    return root


def cmd_completion(args: argparse.Namespace) -> None:
    sys.stdout.write(completion_script(_parser(args), args.shell))


def cmd_man(args: argparse.Namespace) -> None:
    sys.stdout.write(man_page(_parser(args)))
