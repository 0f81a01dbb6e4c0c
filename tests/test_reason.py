"""pingpipe/reason.py: an exception's one line, even when its message is empty."""

from __future__ import annotations

import pytest

from pingpipe.reason import failure, one_line


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


@pytest.mark.parametrize(
    "exc, line",
    [
        (KeyError("x"), "KeyError: 'x'"),
        (RuntimeError("Traceback-like\n  detail\nthe cause"), "RuntimeError: the cause"),
        (ValueError(), "ValueError"),
    ],
)
def test_a_commands_failure_is_its_last_line_with_its_type(exc, line):
    assert failure(exc) == line


def test_a_failed_bigquery_job_is_its_error_not_its_job_id():
    from google.api_core.exceptions import BadRequest

    message = "Query error: Name extra not found inside target at [3:1]\n\nLocation: EU\nJob ID: 0435-7b6c\n"
    exc = BadRequest(message, errors=[{"reason": "invalidQuery", "message": "Name extra not found inside target at [3:1]"}])
    assert failure(exc) == "BadRequest: Name extra not found inside target at [3:1]"
