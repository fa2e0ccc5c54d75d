"""What the global flags resolve to: the configuration, the environment, the store.

Every command that opens a store goes through :func:`open_store`, so
``--config``, ``--identity`` and ``--env`` mean the same thing everywhere.
Precedence (config.py): flag, then environment variable, then the config
file, then the default.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from statesync.api import Store
    from statesync.config import Config

#: Set on a subcommand whose ``--env`` falls back to STATESYNC_ENV / the file.
ENV_FROM_CONFIG = "env_from_config"


def config(args: argparse.Namespace, *, fresh: bool = False) -> Config:
    """The configuration the flags in ``args`` select (resolved once per run;
    ``fresh`` reads the files again, as a reload does)."""
    cached: Config | None = None if fresh else getattr(args, "_config", None)
    if cached is None:
        from statesync.config import load_config

        cached = load_config(
            getattr(args, "store", None),
            config_file=getattr(args, "config_file", None),
            env=getattr(args, "env", None) if getattr(args, ENV_FROM_CONFIG, False) else None,
            identities=getattr(args, "identity", None) or [],
        )
        args._config = cached
    return cached


def resolve_env(args: argparse.Namespace) -> None:
    """Fill in ``args.env`` when the command falls back and no ``--env`` was given."""
    if getattr(args, ENV_FROM_CONFIG, False) and getattr(args, "env", None) is None:
        args.env = config(args).env


def open_store(args: argparse.Namespace) -> Store:
    """The store the flags name, opened with their configuration."""
    from statesync.api import Store

    cfg = config(args)
    return Store.open(cfg.store, config=cfg)


def init_store(args: argparse.Namespace) -> Store:
    """Create the store the flags name."""
    from statesync.api import Store

    cfg = config(args)
    return Store.init(cfg.store, config=cfg)
