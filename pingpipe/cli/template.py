"""The Dataflow Flex Template's launch: the launcher passes the template's parameters as
`--name=value` (names in snake_case, deploy/dataflow/metadata.json) followed by Dataflow's own
options; `pingpipe decode` takes its options in kebab-case and hands the rest to Beam."""

from __future__ import annotations

import sys


def decode_options() -> set[str]:
    """`pingpipe decode`'s own option names, without dashes (input, geoip-db, ...)."""
    from .decode import decode

    return {opt.lstrip("-") for p in decode.params for opt in p.opts if opt.startswith("--")}


def template_args(argv: list[str], options: set[str]) -> list[str]:
    """`--geoip_db=x` -> `--geoip-db=x` for decode's own options; every other argument as it is."""
    out = []
    for arg in argv:
        name, sep, value = arg.partition("=")
        kebab = name.lstrip("-").replace("_", "-")
        out.append(f"--{kebab}{sep}{value}" if name.startswith("--") and kebab in options else arg)
    return out


def launch(argv: list[str] | None = None) -> None:
    """Run `pingpipe decode` with the launcher's arguments (exits with its status)."""
    from . import main

    main(["decode", *template_args(sys.argv[1:] if argv is None else argv, decode_options())])
