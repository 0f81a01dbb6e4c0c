"""A registry bundle in storage (`--schemas gs://BUCKET/schemas.tar.gz`), fetched once per process,
as Mozilla's decoder reads its schemas from GCS at worker start: a schema then rolls out with a job
update (or the next daily run) instead of a new image."""

from __future__ import annotations

import functools
import io
import tarfile
import tempfile
from pathlib import Path

SCHEMES = ("gs://",)


def is_remote(root) -> bool:
    return isinstance(root, str) and root.startswith(SCHEMES)


@functools.cache
def fetch(url: str) -> Path:
    """The bundle (a .tar.gz of a registry) unpacked into a folder of this process's own: a bundle
    replaced in storage reaches a process only when it starts, never halfway through its work."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(url, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        data = f.read()
    root = Path(tempfile.mkdtemp(prefix="pingpipe-schemas-"))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as bundle:
        bundle.extractall(root, filter="data")  # no path outside the folder, no links out, no devices
    return root
