"""The Flex Template's Python file (FLEX_TEMPLATE_PYTHON_PY_FILE): the launcher runs it with the
template's parameters and Dataflow's options; it builds and submits `pingpipe decode`."""

from pingpipe.cli.template import launch

if __name__ == "__main__":
    launch()
