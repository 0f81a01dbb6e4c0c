"""pingpipe/reason.py: an exception's one line, even when its message is empty."""

from __future__ import annotations

import pytest

from pingpipe.reason import one_line


@pytest.mark.parametrize(
    "exc, line",
    [
        (ValueError("bad value\n  at line 3\n  ^"), "bad value"),
        (OSError("\n\n  disk full  \nmore"), "disk full"),
        (ValueError(), "ValueError"),
        (RuntimeError("   \n\t"), "RuntimeError"),
    ],
)
def test_the_reason_is_the_first_line_with_text_else_the_class_name(exc, line):
    assert one_line(exc) == line


def test_the_first_line_alone_raised_on_an_empty_message():
    with pytest.raises(IndexError):
        str(ValueError()).splitlines()[0]
    assert one_line(ValueError()) == "ValueError"
