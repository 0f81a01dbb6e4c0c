"""The conformance data's fetch script, on local files: what it checks, what it keeps, what it refuses."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from tests.conformance import fetch


@pytest.fixture
def origin(tmp_path):
    """A "repository host" on disk: two files at a pinned commit, and a manifest pinning them."""
    served = tmp_path / "served"
    files = {"mps/schemas/a.json": b'{"a": 1}', "decoder/b.ndjson": b'{"b": 2}\n'}
    manifest = []
    for path, data in files.items():
        source = served / "org/repo" / "c0ffee" / "src" / path
        source.parent.mkdir(parents=True)
        source.write_bytes(data)
        manifest.append(
            {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "repo": "org/repo", "commit": "c0ffee", "source": f"src/{path}"}
        )
    (tmp_path / "sources.json").write_text(json.dumps({"files": manifest}))
    return served.as_uri(), tmp_path / "sources.json", tmp_path / "cache"


def test_every_file_is_fetched_checked_and_then_kept(origin):
    base, manifest, cache = origin
    assert not fetch.complete(cache, manifest)
    report = fetch.fetch(cache, base, manifest)
    assert sorted(report.fetched) == ["decoder/b.ndjson", "mps/schemas/a.json"] and report.kept == []
    assert fetch.complete(cache, manifest) and (cache / "decoder/b.ndjson").read_bytes() == b'{"b": 2}\n'
    again = fetch.fetch(cache, base, manifest)
    assert again.fetched == [] and len(again.kept) == 2


def test_a_file_that_is_not_the_pinned_one_is_refused_by_name_and_not_written(origin, tmp_path):
    base, manifest, cache = origin
    (tmp_path / "served/org/repo/c0ffee/src/decoder/b.ndjson").write_bytes(b"changed upstream\n")
    with pytest.raises(fetch.ChecksumError, match="decoder/b.ndjson: .* has SHA-256 .*, the manifest pins"):
        fetch.fetch(cache, base, manifest)
    assert not (cache / "decoder/b.ndjson").exists()


def test_a_cached_file_that_changed_is_fetched_again(origin):
    base, manifest, cache = origin
    fetch.fetch(cache, base, manifest)
    (cache / "mps/schemas/a.json").write_bytes(b"tampered")
    assert not fetch.complete(cache, manifest)
    assert fetch.fetch(cache, base, manifest).fetched == ["mps/schemas/a.json"]


def test_the_script_says_what_it_did_in_one_line_and_a_failure_in_one_line(origin, tmp_path):
    base, _, cache = origin
    script = [sys.executable, str(fetch.HERE / "fetch.py"), "--into", str(cache), "--base", base]
    done = subprocess.run(script, capture_output=True, text=True, timeout=60)  # the real manifest: nothing is served
    *progress, last = done.stderr.strip().splitlines()
    assert done.returncode == 1 and last.startswith("fetch.py: decoder/basic-messages-invalid.ndjson: ")
    assert progress == ["fetching decoder/basic-messages-invalid.ndjson"] and "Traceback" not in done.stderr


def test_the_manifest_pins_a_commit_and_a_checksum_for_every_file():
    for entry in fetch.entries():
        assert len(entry["commit"]) == 40 and len(entry["sha256"]) == 64 and entry["repo"].count("/") == 1, entry
