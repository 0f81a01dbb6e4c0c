"""Glean's built-in metrics and pings: the definitions the Glean SDK itself sends in every app.

Mozilla's probe-scraper adds glean-core to every Glean app as a dependency, so each app's tables
carry a column for glean-core's own metrics (`glean.error.*`, `glean.validation.*`, database and
upload health, ...) and a table for each of its pings (baseline, metrics, events, health,
deletion-request). The glean-sdk wheel ships glean-core's `metrics.yaml` and `pings.yaml`, so
pingpipe reads them from the installed package: no network, and always the definitions of the
SDK release that is installed.

What no installed package holds: the built-ins glean-core has retired. probe-scraper keeps every
metric a repository ever defined, so Mozilla's tables keep such columns (BigQuery cannot drop a
column, and old clients still send them); a table generated from the installed release lacks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "glean-sdk"
FILES = ("glean/metrics.yaml", "glean/pings.yaml")


@dataclass(frozen=True)
class BuiltinSource:
    """Where the built-in definitions were read from, so output can say which release it follows."""

    distribution: str
    version: str
    files: tuple[Path, ...]

    def __str__(self) -> str:
        return f"{self.distribution} {self.version}"


class BuiltinsUnavailable(RuntimeError):
    """The glean-sdk package (and so glean-core's definitions) is not installed."""


def source() -> BuiltinSource:
    """glean-core's metrics.yaml and pings.yaml inside the installed glean-sdk, with its version.

    Found through the distribution's metadata, never by importing `glean`: that would load the
    SDK's native library, a process-wide singleton, just to read two files.
    """
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError as exc:
        raise BuiltinsUnavailable(f"{DISTRIBUTION} is not installed; it carries Glean's built-in metrics") from exc
    version = dist.version
    files = tuple(Path(str(dist.locate_file(name))) for name in FILES)
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise BuiltinsUnavailable(f"{DISTRIBUTION} {version} ships no {', '.join(missing)}")
    return BuiltinSource(DISTRIBUTION, version, files)
