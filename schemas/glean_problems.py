"""glean_parser's messages, one line each: `file:line: where: what`.

glean_parser reports a problem in metrics.yaml or pings.yaml as a block of 10 to 80 lines: the
file, the offending node as a YAML snippet, its message, then the schema's documentation of the
node. Here each becomes its file, the line the node is on (found by walking the snippet's keys in
the file), the node's path and glean_parser's own message, with a did-you-mean where the
message lists the allowed values.
"""

from __future__ import annotations

import ast
import difflib
import re
import textwrap
from pathlib import Path

import yaml

_HEAD = re.compile(r"^(?P<file>.*?)(?::(?P<line>\d+))?:(?: (?P<header>.*))?$")
_ENUM = re.compile(r"^(?P<value>.+?) is not one of (?P<allowed>\[.*\])$")
_LINE = re.compile(r"^[^:]*:(\d+):")
_YAML_LINE = re.compile(r"line (\d+), column \d+")
_UNEXPECTED = re.compile(r"\('([^']+)' was unexpected\)")
_DOCUMENTATION = "Documentation for this node:"
_FENCE = "```"


def problem_lines(messages: list[str]) -> list[str]:
    """Each of glean_parser's messages as one line; by line within each file, the files in its order."""
    lines = [problem_line(m) for m in messages]
    files = list(dict.fromkeys(line.split(":", 1)[0] for line in lines))
    return sorted(lines, key=lambda text: (files.index(text.split(":", 1)[0]), int(m.group(1)) if (m := _LINE.match(text)) else 0))


def problem_line(message: str) -> str:
    head, _, body = str(message).partition("\n")
    match = _HEAD.match(head)
    if match is None or not match.group("file"):
        return " ".join(str(message).split())
    file, line, where = match.group("file"), match.group("line"), match.group("header") or ""
    body = textwrap.dedent(body).strip("\n")
    snippet = None
    if body.startswith(_FENCE):  # the node, as YAML: its keys lead to it in the file
        snippet, _, body = body[len(_FENCE) :].partition(_FENCE)
    text = _message(body.split(_DOCUMENTATION)[0])
    if snippet is not None:
        path, found, node = _locate(file, snippet)
        unexpected = _UNEXPECTED.search(text)
        if unexpected and isinstance(node, yaml.MappingNode):  # the key itself, rather than its mapping
            key = next((k for k, _ in node.value if isinstance(k, yaml.ScalarNode) and k.value == unexpected.group(1)), None)
            if key is not None:
                path, found = [*path, key.value], str(key.start_mark.line + 1)
        where = where or ".".join(path)
        line = line or found
    if line is None:
        yaml_lines = _YAML_LINE.findall(text)  # a YAML syntax error says where itself
        line = yaml_lines[-1] if yaml_lines else None
    return f"{_shown(file)}{f':{line}' if line else ''}: {f'{where}: ' if where else ''}{text}"


def _message(text: str) -> str:
    """glean_parser's message (wrapped to 72 columns) on one line; the reasons of an `anyOf` (indented
    below it) in parentheses, once each."""
    lines = text.strip("\n").splitlines()
    main = " ".join(" ".join(line for line in lines if not line.startswith(" ")).split())
    reasons = list(dict.fromkeys(line.strip() for line in lines if line.strip() and line.startswith(" ")))
    enum = _ENUM.match(main)
    if enum:
        main += _did_you_mean(enum.group("value"), enum.group("allowed"))
    return main + (f" ({'; '.join(reasons)})" if reasons else "")


def _did_you_mean(value: str, allowed: str) -> str:
    try:
        given, choices = ast.literal_eval(value), ast.literal_eval(allowed)
    except (ValueError, SyntaxError):
        return ""
    close = difflib.get_close_matches(str(given), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _shown(file: str) -> str:
    """The file as the user would type it: relative to the working folder when it is under it."""
    try:
        return str(Path(file).relative_to(Path.cwd()))
    except ValueError:
        return file


def _locate(file: str, snippet: str) -> tuple[list[str], str | None, yaml.Node | None]:
    """The keys down to the node the snippet shows, the (1-based) line of the last one in the file, and
    the node."""
    try:
        shown = yaml.safe_load(snippet)
        node = yaml.compose(Path(file).read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return [], None, None
    path: list[str] = []
    line = None
    while node is not None:
        if isinstance(shown, dict) and len(shown) == 1 and isinstance(node, yaml.MappingNode):
            ((key, shown),) = shown.items()
            pair = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(key)), None)
            if pair is None:
                break
            path.append(str(key))
            line = str(pair[0].start_mark.line + 1)
            node = pair[1]
        elif isinstance(shown, list) and len(shown) == 1 and isinstance(node, yaml.SequenceNode):
            item = next((i for i in node.value if isinstance(i, yaml.ScalarNode) and i.value == str(shown[0])), None)
            if item is None:
                break
            return path, str(item.start_mark.line + 1), item
        else:
            break
    return path, line, node
