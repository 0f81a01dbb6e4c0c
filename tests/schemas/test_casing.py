import pytest

from pingpipe.schemas.casing import snake_case
from pingpipe.schemas.transpile import column_name


@pytest.mark.parametrize(
    "name, expected",
    [
        ("Aa", "aa"),
        ("aA", "a_a"),
        ("_a__a_", "a_a"),
        ("RAM", "ram"),
        ("a7aAa", "a7a_aa"),
        ("A7AAa", "a7a_aa"),
        ("changesetID", "changeset_id"),
        ("landingSystem", "landing_system"),
        ("HTTPServer", "http_server"),
        ("glean.error.invalid_label", "glean_error_invalid_label"),
        ("impression-stats", "impression_stats"),
        ("already_snake", "already_snake"),
        ("loadedContent", "loaded_content"),
        ("TEST_SCREAMING_SNAKE_CASE", "test_screaming_snake_case"),
    ],
)
def test_snake_case_splits_words_like_mozillas_pipeline(name, expected):
    assert snake_case(name) == expected


def test_column_names_never_start_with_a_digit():
    assert column_name("64bit_build") == "_64bit_build"
    assert column_name("x64") == "x64"
