"""What holds people's data is its owner's alone: folders 0700, files 0600, whatever the umask.

The warehouse and its WAL, queue segments (raw payloads and clients' IP addresses), state and
offsets are written by pingpipe, by DuckDB and by worker and edge processes, and not all of them
take a mode. So a process that writes such data sets its umask first (`private_umask`), which its
children inherit, and a folder pingpipe owns is made private with what it held before this rule
(`private_folder`). A folder another user owns (a Kubernetes volume's root, group-owned by
`fsGroup`) keeps its owner's modes; what pingpipe writes in it is still 0600.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600
UMASK = 0o077


def private_umask() -> None:
    """Whatever this process and its children create from now on: readable by its owner only."""
    os.umask(UMASK)


def _restrict(path: str | Path, mode: int) -> None:
    """chmod, but what another user owns (a volume's root, made by Kubernetes with fsGroup, or a folder
    an operator made) keeps the modes its owner chose: only the owner may change them."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode) or not stat.S_IMODE(info.st_mode) & ~mode:
        return
    try:
        os.chmod(path, mode)
    except PermissionError:
        if info.st_uid == os.geteuid():
            raise


def private_file(path: str | Path) -> None:
    """A file made before the umask was set (or by another tool), made private if it is there."""
    _restrict(path, FILE_MODE)


def private_folder(folder: str | Path) -> Path:
    """A folder pingpipe owns (a data folder, a spool): made if missing, and it and everything in it
    made private, links aside; the umask set for what comes."""
    private_umask()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _restrict(folder, FOLDER_MODE)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            _restrict(os.path.join(root, name), FOLDER_MODE)
        for name in files:
            _restrict(os.path.join(root, name), FILE_MODE)
    return folder
