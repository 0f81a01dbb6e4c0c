"""The decode pipeline from its specs: a warehouse output is written by the loader's transform the
caller hands in, and outputs that cannot work together are refused before anything runs."""

from __future__ import annotations

import apache_beam as beam
import pytest

from pingpipe.decoder.build import build_pipeline
from pingpipe.decoder.core import DecoderConfig
from pingpipe.decoder.io import SpecError
from pingpipe.loader.sink import WriteToWarehouse


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "in.ndjson"
    path.write_bytes(b"")
    return f"file:{path}"


@pytest.mark.parametrize(
    "output, errors, load, message",
    [
        ("duckdb:w.duckdb", None, None, "a warehouse output needs the loader"),
        ("duckdb:a.duckdb", "duckdb:b.duckdb", WriteToWarehouse, "decoded and error outputs must be the same warehouse"),
        ("file:out", None, WriteToWarehouse, "--errors is required unless --output is a warehouse"),
    ],
)
def test_outputs_that_cannot_work_are_refused_in_one_line(source, output, errors, load, message):
    with pytest.raises(SpecError, match=message):
        build_pipeline(beam.Pipeline(), DecoderConfig(), source, output, errors, load=load)


def test_a_warehouse_output_is_the_loader_transform_it_is_given(source, tmp_path):
    pipeline = beam.Pipeline()
    build_pipeline(pipeline, DecoderConfig(), source, f"duckdb:{tmp_path / 'w.duckdb'}", None, load=WriteToWarehouse)
    labels = [t.full_label for t in pipeline.transforms_stack[0].parts]
    assert "Load" in labels and "WriteDecoded" not in labels
