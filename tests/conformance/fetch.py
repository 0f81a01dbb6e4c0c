"""Mozilla's data for the conformance tests, fetched on a machine without `../shared`.

    python3 tests/conformance/fetch.py            # into .cache/conformance/ (ignored by git)

Each file of `sources.json` is taken from its public repository at a pinned commit (raw GitHub
content), checked against its SHA-256, and written into the cache only if it matches; a file
already there with the right checksum is not fetched again. A mismatch names the file and both
checksums, and leaves nothing half-written. Development machines and CI have the same files in
`../shared/fixtures/` (`data.py` looks there first), so they never need this.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "sources.json"
CACHE = HERE.parents[1] / ".cache" / "conformance"
BASE = "https://raw.githubusercontent.com"


class ChecksumError(ValueError):
    """A fetched file is not the one the manifest pins."""


@dataclass
class Report:
    fetched: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # already in the cache, checksum right


def entries(manifest: Path = MANIFEST) -> list[dict]:
    return json.loads(manifest.read_text())["files"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def url(entry: dict, base: str = BASE) -> str:
    return f"{base.rstrip('/')}/{entry['repo']}/{entry['commit']}/{entry['source']}"


def cached(entry: dict, into: Path) -> bool:
    path = into / entry["path"]
    return path.is_file() and sha256(path) == entry["sha256"]


def complete(into: Path, manifest: Path = MANIFEST) -> bool:
    """Whether the folder holds every file of the manifest, each with its checksum."""
    return into.is_dir() and all(cached(e, into) for e in entries(manifest))


def fetch(into: Path = CACHE, base: str = BASE, manifest: Path = MANIFEST, progress=None) -> Report:
    """Every file of the manifest into `into`, checked; raises ChecksumError (naming the file) on a mismatch."""
    report = Report()
    for entry in entries(manifest):
        if cached(entry, into):
            report.kept.append(entry["path"])
            continue
        if progress is not None:
            progress(entry["path"])
        try:
            with urllib.request.urlopen(url(entry, base), timeout=60) as response:
                data = response.read()
        except OSError as exc:
            raise OSError(f"{entry['path']}: {url(entry, base)}: {getattr(exc, 'reason', exc)}") from None
        got = hashlib.sha256(data).hexdigest()
        if got != entry["sha256"]:
            raise ChecksumError(f"{entry['path']}: {url(entry, base)} has SHA-256 {got}, the manifest pins {entry['sha256']}")
        target = into / entry["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, target)
        report.fetched.append(entry["path"])
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--into", type=Path, default=CACHE, help=f"where to (default: {CACHE})")
    parser.add_argument("--base", default=BASE, help="where the repositories' raw files are served")
    args = parser.parse_args()
    try:
        report = fetch(args.into, args.base, progress=lambda path: print(f"fetching {path}", file=sys.stderr))
    except (ChecksumError, OSError) as exc:
        print(f"fetch.py: {exc}", file=sys.stderr)
        return 1
    print(f"{len(report.fetched)} file(s) fetched, {len(report.kept)} already there, into {args.into}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
