"""Secret files made once, readable by their owner only from the first byte.

Writing a file and then chmod-ing it leaves a moment in which the secret is readable with the
process's umask (often world-readable), and two processes starting together could each write a
different secret and disagree for ever after. Here the secret is written to a private temporary
file (created with mode 0600) and hard-linked into place, which fails if the file already exists:
the first writer wins and every process, the loser included, reads the same bytes.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

PRIVATE = 0o600


def write_private(path: Path, text: str) -> None:
    """Create or replace `path` with `text`, mode 0600 from creation (never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    _write_new(tmp, text)
    os.replace(tmp, path)


def read_or_create(path: Path, make: Callable[[], str]) -> str:
    """The secret in `path`; on first use, `make()` is written there (0600) by exactly one
    process, and every process reads what that one wrote."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        _write_new(tmp, make())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process was first: use its secret
        finally:
            tmp.unlink()
    return path.read_text().strip()


def _write_new(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
