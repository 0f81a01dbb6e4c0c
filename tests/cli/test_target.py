"""--data and --warehouse are declared once: every command that takes them has the same default
(UpConfig's), and a mistake in them, or in what their target answers, is one line with the exit
status of its kind. In this process, through click's runner."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from pingpipe.cli import main
from pingpipe.up.config import UpConfig


def commands(group: click.Group, prefix: str = ""):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


def test_every_data_option_is_the_one_declaration_with_up_configs_default():
    found = {}
    for name, command in commands(main):
        for param in command.params:
            if param.name == "data":
                found[name] = (param.default, param.envvar, param.type.file_okay)
    assert {"up", "query", "status", "audit", "shred", "cycle", "etl run", "dedupe", "load", "demo", "logs ingest"} <= set(found)
    assert set(found.values()) == {(UpConfig.data, "PINGPIPE_DATA", False)}


@pytest.mark.parametrize(
    "args, code, line",
    [
        (
            ["dedupe", "--warehouse", "duckdb", "--date", "2026-01-01"],
            2,
            "Invalid value for --warehouse: 'duckdb': give the DuckDB file as duckdb:PATH",
        ),
        (["shred", "--warehouse", "duckdb:x"], 2, "'duckdb:x': expected bigquery:PROJECT (a DuckDB warehouse is --data's)"),
        (["etl", "run", "--warehouse", "bigquery:"], 2, "'bigquery:': give the project as bigquery:PROJECT"),
        (["query", "SELECT 1", "--data", "{d}"], 1, "Error: no warehouse at {d}/warehouse.duckdb: start `pingpipe up --data {d}` first"),
        (["cycle", "--data", "{d}", "--date", "2099-01-01"], 2, "Invalid value for --date: 2099-01-01 has not ended (UTC)"),
    ],
)
def test_a_target_mistake_is_one_line_with_its_exit_status(tmp_path, args, code, line):
    d = tmp_path / "nodata"
    done = CliRunner().invoke(main, [a.format(d=d) for a in args])
    assert done.exit_code == code, done.output
    errors = [text for text in done.output.splitlines() if text.startswith("Error")]
    assert len(errors) == 1 and line.format(d=d) in errors[0], done.output
    assert not d.exists()  # nothing made for a mistake
