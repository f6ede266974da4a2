"""Private files and directories: 0700 directories, 0600 files, atomic writes."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if needed; make ``path`` itself 0700.

    Parents that already exist are left as they are (they may be shared, like ``~``).
    """
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    if path.stat().st_mode & 0o777 != PRIVATE_DIR_MODE:
        path.chmod(PRIVATE_DIR_MODE)
    return path


def write_private_file(
    path: Path, text: str, *, exclusive: bool = False, private_parent: bool = True
) -> None:
    """Write ``text`` to ``path`` atomically, mode 0600, in a 0700 parent.

    With ``exclusive``, fail with :class:`FileExistsError` if ``path`` exists. With
    ``private_parent=False`` the parent is created if missing but its mode is left
    alone (a directory the user chose, such as the current one).
    """
    if private_parent:
        ensure_private_dir(path.parent)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    if exclusive and path.exists():
        raise FileExistsError(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()
        raise
