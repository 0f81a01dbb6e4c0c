"""The DaskRunner's reading (decoder/ondask.py): byte ranges that together give every line once."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pingpipe.decoder.ondask import byte_ranges, read_range

LINES = st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b"")), max_size=40)


@settings(max_examples=200, deadline=None)
@given(
    files=st.lists(st.tuples(LINES, st.sampled_from([b"\n", b"\r\n"]), st.booleans()), min_size=1, max_size=3),
    parts=st.integers(min_value=1, max_value=50),
)
def test_the_ranges_give_each_line_once_in_order_wherever_they_cut(tmp_path_factory, files, parts):
    folder = tmp_path_factory.mktemp("ranges")
    sizes, expected = {}, []
    for i, (lines, ending, last_ended) in enumerate(files):
        data = ending.join(lines) + (ending if lines and last_ended else b"")
        path = folder / f"f{i}.ndjson"
        path.write_bytes(data)
        sizes[str(path)] = len(data)
        pieces = data.split(ending)
        expected += pieces[:-1] if pieces[-1] == b"" else pieces  # text lines: a last empty piece is no line
    ranges = byte_ranges(sizes, parts=parts, min_range=1)
    assert all(start < end for _, start, end in ranges)
    got = [line for r in ranges for line in read_range(r)]
    assert got == expected


def test_ranges_are_about_parts_in_all_and_at_least_the_minimum():
    assert len(byte_ranges({"a": 1000, "b": 1000}, parts=8, min_range=1)) == 8
    assert byte_ranges({"a": 1000}, parts=8) == [("a", 0, 1000)]  # small input: one range (min 64 KiB)
    assert byte_ranges({"a": 0}) == []
