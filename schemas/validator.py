"""A JSON-schema validator for pings that checks repeated property names once, not once per ping.

jsonschema-rs turns every object key into a JSON value before it checks `propertyNames`, about
150 ns a key: on a Glean ping with a hundred metrics that is most of the validation time. Yet the
names repeat from ping to ping (they are the app's metric names). So `propertyNames` that apply at
a fixed path — reached from the root through `properties` only, which always apply — are lifted out
of the schema: the rest of the schema is validated by jsonschema-rs as before, and the keys at
each lifted path are checked by jsonschema-rs too, but each distinct key only once, then
remembered. The verdict is the same as the whole schema's; errors are reported by the whole
schema's validator, so their messages and paths do not change either.

The walk costs about a microsecond of Python per ping: a ping with a handful of metrics validates
a little slower than with the whole schema (benchmarks/bench_validate.py: 350K/s against 620K/s),
one with 150 metrics twice as fast (96K/s against 44K/s), and that is where the time goes.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

# Draft-04 has no propertyNames keyword: there it is an unknown word and never applies.
_PROPERTY_NAMES_DRAFTS = ("Draft6Validator", "Draft7Validator")
MAX_REMEMBERED = 65_536  # per path; past this, new names are still checked, just not remembered


@dataclass
class _Names:
    """One lifted propertyNames: its own validator, and the names it has already accepted."""

    validator: Any
    good: set[str] = field(default_factory=set)

    def ok(self, node: dict) -> bool:
        return self.good.issuperset(node) or self.learn(node)

    def learn(self, node: dict) -> bool:
        """Check the names not seen before; remember the good ones."""
        good = self.good
        for name in node.keys() - good:
            if not self.validator.is_valid(name):
                return False
            if len(good) < MAX_REMEMBERED:
                good.add(name)
        return True


class PingValidator:
    """is_valid with lifted name checks; validate/iter_errors from the whole schema."""

    def __init__(self, schema: dict, validator_cls: type, **options: Any) -> None:
        self.full = validator_cls(schema, **options)
        self.rest = self.full
        self.root: _Names | None = None
        # Lifted checks grouped by their parent's path, so that one walk serves siblings: for a
        # Glean ping, ("metrics",) -> {"counter": ..., "string": ..., ...}.
        groups: dict[tuple[str, ...], dict[str, _Names]] = {}
        if validator_cls.__name__ in _PROPERTY_NAMES_DRAFTS and '"$ref"' not in json.dumps(schema):
            rest = copy.deepcopy(schema)
            for path, names in _lift_property_names(rest, ()):
                check = _Names(validator_cls(names, **options))
                if path:
                    groups.setdefault(path[:-1], {})[path[-1]] = check
                else:
                    self.root = check
            if groups or self.root is not None:
                self.rest = validator_cls(rest, **options)
        self.groups = list(groups.items())
        if self.rest is self.full:  # nothing lifted: no wrapper in the way
            self.is_valid = self.full.is_valid  # type: ignore[method-assign]

    @property
    def lifted(self) -> dict[tuple[str, ...], _Names]:
        """Instance path -> its lifted check (for tests and curious readers)."""
        out = {parent + (key,): check for parent, checks in self.groups for key, check in checks.items()}
        if self.root is not None:
            out[()] = self.root
        return out

    def is_valid(self, document: Any) -> bool:
        if not self.rest.is_valid(document):
            return False
        if not isinstance(document, dict):
            return True
        if self.root is not None and not self.root.ok(document):
            return False
        # Plain loops: this runs for every ping, and generators or calls cost more than the checks.
        for parent, checks in self.groups:
            node = document
            for key in parent:
                node = node.get(key)
                if not isinstance(node, dict):
                    break
            else:
                if len(checks) <= len(node):
                    for key, check in checks.items():
                        value = node.get(key)
                        if isinstance(value, dict) and not check.good.issuperset(value) and not check.learn(value):
                            return False
                else:
                    for key, value in node.items():
                        check = checks.get(key)
                        if check is not None and isinstance(value, dict) and not check.good.issuperset(value) and not check.learn(value):
                            return False
        return True

    def validate(self, document: Any) -> None:
        self.full.validate(document)

    def iter_errors(self, document: Any):
        return self.full.iter_errors(document)


def _lift_property_names(schema: Any, path: tuple[str, ...]):
    """Remove (and yield with its instance path) each object-valued propertyNames reached
    through `properties` alone. Anything else (allOf, additionalProperties, items...) stays."""
    if not isinstance(schema, dict):
        return
    names = schema.get("propertyNames")
    if isinstance(names, dict):
        del schema["propertyNames"]
        yield path, names
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for key, sub in properties.items():
            yield from _lift_property_names(sub, path + (key,))
