"""`python -m pingpipe.cli`: the `pingpipe` command."""

from . import main

main()
