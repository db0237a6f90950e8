"""Checks on the output path made before any request is sent (bad paths are exit 2, not a lost run)."""

from __future__ import annotations

import os
from pathlib import Path

from smallest_cli.errors import UsageError


def check_output_path(path: Path) -> None:
    """Raise UsageError unless `path` (and its `.part` sibling) can be created or replaced."""
    if path.is_dir():
        raise UsageError(f"cannot write {path}: it is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"cannot write {path}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {path}: the directory {parent} is not writable")
