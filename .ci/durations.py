"""Refresh tests/durations.json, the seconds each test file took, from a run's `--durations=0` report:

    .venv/bin/python -m pytest --durations=0 > run.txt; .venv/bin/python .ci/durations.py run.txt

tests/conftest.py starts the longest files first, so that the test processes end together (the
longest-processing-time rule); a file it does not know is placed by its tier.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "durations.json"


def main(report: str) -> None:
    seconds: Counter = Counter()
    for line in Path(report).read_text().splitlines():
        m = re.match(r"\s*([\d.]+)s (?:setup|call|teardown)\s+(tests/\S+?\.py)::", line)
        if m:
            seconds[m.group(2)] += float(m.group(1))
    if not seconds:
        sys.exit(f"{report}: no --durations=0 lines")
    OUT.write_text(json.dumps({f: round(s, 1) for f, s in sorted(seconds.items())}, indent=0) + "\n")
    print(f"{OUT}: {len(seconds)} files, {sum(seconds.values()):.0f} s")


if __name__ == "__main__":
    main(sys.argv[1])
