"""A JSON-schema validator for pings that checks repeated property names once, not once per ping.

jsonschema-rs turns every object key into a JSON value before it checks `propertyNames`, about
150 ns a key: on a Glean ping with a hundred metrics that is most of the validation time. Yet the
names repeat from ping to ping (they are the app's metric names). So `propertyNames` that apply at
a fixed path — reached from the root through `properties` only, which always apply — are lifted out
of the schema: the rest of the schema is validated by jsonschema-rs as before, and the keys at
each lifted path are checked by jsonschema-rs too, but each distinct key only once, then
remembered. The verdict is the same as the whole schema's; errors are reported by the whole
schema's validator, so their messages and paths do not change either.
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
    """The lifted checks below one instance path: the propertyNames here, and those further down."""

    validator: Any = None
    good: set[str] = field(default_factory=set)
    children: dict[str, "_Names"] = field(default_factory=dict)

    def ok(self, node: Any) -> bool:
        if not isinstance(node, dict):
            return True  # propertyNames and properties only constrain objects
        if self.validator is not None and not self.good.issuperset(node) and not self.learn(node):
            return False
        children = self.children
        if not children:
            return True
        # Loops, not all(...), and leaves checked in place: this runs for every ping.
        if len(children) <= len(node):
            pairs = ((child, node.get(key)) for key, child in children.items())
        else:
            pairs = ((child, value) for key, value in node.items() if (child := children.get(key)) is not None)
        for child, value in pairs:
            if child.children:
                if not child.ok(value):
                    return False
            elif isinstance(value, dict) and not child.good.issuperset(value) and not child.learn(value):
                return False
        return True

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
        self.names: _Names | None = None
        self.rest = self.full
        if validator_cls.__name__ in _PROPERTY_NAMES_DRAFTS and '"$ref"' not in json.dumps(schema):
            rest = copy.deepcopy(schema)
            for path, names in _lift_property_names(rest, ()):
                tree = self.names = self.names or _Names()
                for key in path:
                    tree = tree.children.setdefault(key, _Names())
                tree.validator = validator_cls(names, **options)
            if self.names is not None:
                self.rest = validator_cls(rest, **options)

    def is_valid(self, document: Any) -> bool:
        return self.rest.is_valid(document) and (self.names is None or self.names.ok(document))

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

