"""JSON Schema -> BigQuery table schema, with the rules of Mozilla's jsonschema-transpiler.

The `.bq` files in mozilla-pipeline-schemas are what `jsonschema-transpiler --type bigquery
--resolve drop --normalize-case --force-nullable --tuple-struct` makes of each schema after the
pipeline's metadata schema was merged into it. `Options` holds those flags; its defaults are
MPS's, and the reference's own test cases run with its `Context::default()` instead. The rules:

* Property names become column names: `.` and `-` turn into `_`, a leading digit gets a `_`
  prefix, and a name that is still not `[a-zA-Z_][a-zA-Z0-9_]*` (`$schema`) has no column.
  With `normalize_case` names are snake_cased (`casing.snake_case`). Fields are sorted by name.
* An object with `properties` is a RECORD. Without them, a schema in `additionalProperties`
  and/or `patternProperties` makes a map: a REPEATED RECORD of `key`/`value`.
* An array is REPEATED; an array of arrays becomes a REPEATED RECORD holding a `list` field.
  With `tuple_struct` a tuple (`items` as a list) is a RECORD of `f0_`, `f1_`, ... fields.
* `type` lists and `oneOf` are unions, collapsed to one compatible type: a null member makes
  the field nullable; integer+number is a number; other atoms only combine with themselves
  (and not even date-times or bytes); objects merge field by field, and one field that does
  not combine (or is under-specified) makes the whole union incompatible; maps merge their
  values and arrays their items. `anyOf` and `allOf` are not understood by the reference: a
  schema that has nothing else is under-specified.
* What stays under-specified or incompatible is a JSON value. If its path matches the
  `json_object_path_regex` (from the schema's `mozPipelineMetadata`) it is a JSON column;
  otherwise `resolve` decides: `drop` leaves the column out (its data ends in
  `additional_properties`), `cast` makes it a STRING, `panic` raises. An empty record is
  resolved the same way; a map whose value or a tuple one of whose items is dropped is dropped
  too (a map keeps its keys with `allow_maps_without_value`).
* A field is NULLABLE if its type allows null or its object does not require it, and every
  non-repeated field is with `force_nullable`.

The work is split in pure passes: `parse` turns a JSON schema into a tree of `Node`s,
`infer_nullability` and `collapse` resolve it, and `to_bigquery` writes the BigQuery fields.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field, replace
from functools import reduce
from typing import Any

from .casing import snake_case

BQ_ATOM = {
    "boolean": "BOOL",
    "integer": "INT64",
    "number": "FLOAT64",
    "string": "STRING",
    "datetime": "TIMESTAMP",
    "bytes": "BYTES",
}
# The pairs of atoms a union may hold; any other pair is incompatible (a JSON value).
ATOM_UNIONS = {
    ("boolean", "boolean"): "boolean",
    ("integer", "integer"): "integer",
    ("number", "number"): "number",
    ("integer", "number"): "number",
    ("number", "integer"): "number",
    ("string", "string"): "string",
}
MAX_DESCRIPTION_LENGTH = 1024  # BigQuery's limit
RESOLVE_METHODS = ("drop", "cast", "panic")
_BIGQUERY_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


class TranspileError(ValueError):
    """A schema that cannot be expressed as a table (only raised with resolve='panic')."""


@dataclass(frozen=True)
class Options:
    """The transpiler's switches, named after the reference's flags; defaults are MPS's build."""

    resolve: str = "drop"  # --resolve: drop | cast | panic, for incompatible/under-specified values
    normalize_case: bool = True  # --normalize-case: snake_case column names
    force_nullable: bool = True  # --force-nullable: ignore `required`
    tuple_struct: bool = True  # --tuple-struct: tuples are records of f0_, f1_, ...
    allow_maps_without_value: bool = False  # --allow-maps-without-value: keep a map whose value is dropped
    json_object_path_regex: str | None = None  # JSON columns; a schema's mozPipelineMetadata overrides it

    def __post_init__(self) -> None:
        if self.resolve not in RESOLVE_METHODS:
            raise ValueError(f"resolve must be one of {RESOLVE_METHODS}, not {self.resolve!r}")


MOZILLA = Options()


@dataclass(frozen=True)
class Node:
    """One schema position: kind is null, atom, object, map, array, tuple or union."""

    kind: str
    atom: str | None = None
    fields: dict[str, "Node"] = field(default_factory=dict)  # object: column name -> field
    required: frozenset[str] | None = None
    value: "Node | None" = None  # map values and array items
    items: tuple["Node", ...] = ()  # union members and tuple items
    nullable: bool = False
    description: str | None = None

    @property
    def is_json(self) -> bool:
        return self.kind == "atom" and self.atom == "json"


JSON = Node("atom", "json")


# ---------------------------------------------------------------------------------------------
# JSON schema -> Node tree


def _description(schema: dict) -> str | None:
    title, desc = schema.get("title"), schema.get("description")
    if isinstance(title, str) and isinstance(desc, str):
        return f"{title} - {desc}"
    if isinstance(desc, str):
        return desc
    if isinstance(title, str):
        return title
    return None


def parse(schema: Any, options: Options = MOZILLA) -> Node:
    """Turn a JSON schema (draft 4/6/7 subset used by MPS) into a Node tree, unions unresolved."""
    if not isinstance(schema, dict):
        return JSON  # `true` / `false` / garbage: nothing is known about the value
    type_ = schema.get("type")
    if isinstance(type_, list):
        # Each listed type reads the same schema; `format` only applies to a lone "string".
        members = tuple(_parse_type(schema, t, options, with_format=False) for t in type_)
        return Node("union", items=members, nullable="null" in type_, description=_description(schema))
    return _parse_type(schema, type_ if isinstance(type_, str) else "object", options, with_format=True)


def _parse_type(schema: dict, type_: Any, options: Options, *, with_format: bool) -> Node:
    desc = _description(schema)
    if type_ == "null":
        return Node("null", nullable=True, description=desc)
    if type_ == "string":
        fmt = schema.get("format") if with_format else None
        return Node("atom", {"date-time": "datetime", "bytes": "bytes"}.get(fmt, "string"), description=desc)
    if type_ in ("boolean", "integer", "number"):
        return Node("atom", type_, description=desc)
    if type_ in ("date-time", "bytes"):
        return Node("atom", type_.replace("-", ""), description=desc)
    if type_ == "array":
        return _parse_array(schema, desc, options)
    if type_ == "object":
        return _parse_object(schema, desc, options)
    raise TranspileError(f"unknown JSON schema type {type_!r}")


def property_column(name: str, options: Options = MOZILLA) -> str | None:
    """The column a JSON property becomes, or None when BigQuery cannot name it (`$schema`)."""
    renamed = name.replace(".", "_").replace("-", "_")
    if renamed[:1].isnumeric():
        renamed = f"_{renamed}"
    if not _BIGQUERY_NAME.fullmatch(renamed):
        return None
    return column_name(renamed) if options.normalize_case else renamed


def column_name(name: str) -> str:
    """A snake_case BigQuery column name for a JSON property, never starting with a digit."""
    snake = snake_case(name)
    return f"_{snake}" if snake[:1].isdigit() else snake


def _parse_object(schema: dict, desc: str | None, options: Options) -> Node:
    props = schema.get("properties")
    if isinstance(props, dict):
        fields: dict[str, Node] = {}
        for name, sub in props.items():
            column = property_column(name, options)
            if column:
                fields[column] = parse(sub, options)
        required = schema.get("required")
        if isinstance(required, list):
            names = (property_column(r, options) for r in required if isinstance(r, str))
            return Node("object", fields=fields, required=frozenset(n for n in names if n), description=desc)
        return Node("object", fields=fields, description=desc)
    map_value = _map_value(schema, options)
    if map_value is not None:
        return Node("map", value=map_value, description=desc)
    one_of = schema.get("oneOf")
    if isinstance(one_of, list):
        members = tuple(parse(s, options) for s in one_of)
        return Node("union", items=members, nullable=any(m.kind == "null" for m in members), description=desc)
    # Nothing to build columns from (including `anyOf` / `allOf`, which the reference ignores).
    return Node("atom", "json", description=desc)


def _map_value(schema: dict, options: Options) -> Node | None:
    """The value of a map, or None when the object is not a map.

    Pattern values (with or without a typed `additionalProperties`) form a union, even a
    single one, so like any collapsed union the value keeps no description of its own.
    """
    additional = schema.get("additionalProperties")
    patterns = schema.get("patternProperties")
    if not isinstance(patterns, dict):
        return parse(additional, options) if isinstance(additional, dict) else None
    values = [parse(additional, options)] if isinstance(additional, dict) else []
    values.extend(parse(sub, options) for sub in patterns.values())
    if not values:
        return _unresolvable(None, options, "patternProperties without a pattern")
    return Node("union", items=tuple(values))


def _parse_array(schema: dict, desc: str | None, options: Options) -> Node:
    items = schema.get("items")
    if isinstance(items, list):
        if not options.tuple_struct:
            return Node("atom", "json", description=desc)
        return _parse_tuple(schema, items, desc, options)
    if not isinstance(items, dict):
        return _unresolvable(desc, options, "array without items")
    return Node("array", value=parse(items, options), description=desc)


def _parse_tuple(schema: dict, items: list, desc: str | None, options: Options) -> Node:
    """A tuple; items past `minItems` and those `additionalItems` adds up to `maxItems` are optional."""
    members = [parse(s, options) for s in items]
    min_items = schema.get("minItems", len(members))
    min_items = min_items if isinstance(min_items, int) else len(members)
    members = members[:min_items] + [replace(m, nullable=True) for m in members[min_items:]]
    additional = schema.get("additionalItems")
    max_items = schema.get("maxItems", 0)
    if isinstance(additional, dict):
        if not isinstance(max_items, int) or max_items < len(members):
            return _unresolvable(desc, options, "maxItems is less than tuple length")
        extra = replace(parse(additional, options), nullable=True)
        members += [extra] * (max_items - len(members))
    elif additional is None:
        if max_items != len(members):
            return _unresolvable(desc, options, "maxItems must be set if additionalItems are allowed")
    elif additional is not False:
        return _unresolvable(desc, options, "additionalItems set incorrectly")
    return Node("tuple", items=tuple(members), description=desc)


def _unresolvable(desc: str | None, options: Options, why: str) -> Node:
    """A schema the reference refuses outright; pingpipe refuses it only under resolve='panic'."""
    if options.resolve == "panic":
        raise TranspileError(why)
    return Node("atom", "json", description=desc)


# ---------------------------------------------------------------------------------------------
# Nullability and unions


def infer_nullability(node: Node, force: bool) -> Node:
    """Null types are nullable, and so are fields their object does not require (all, if forced)."""
    nullable = node.nullable or node.kind == "null" or force
    if node.kind == "object":
        required = node.required or frozenset()
        fields = {}
        for name, sub in node.fields.items():
            sub = infer_nullability(sub, force)
            fields[name] = replace(sub, nullable=True) if name not in required and not sub.nullable else sub
        return replace(node, fields=fields, nullable=nullable)
    if node.kind in ("map", "array"):
        return replace(node, value=infer_nullability(node.value, force), nullable=nullable)
    if node.kind in ("tuple", "union"):
        return replace(node, items=tuple(infer_nullability(i, force) for i in node.items), nullable=nullable)
    return replace(node, nullable=nullable) if nullable != node.nullable else node


def collapse(node: Node) -> Node:
    """Resolve the unions in the tree into one type each; a union keeps its own description only.

    Like the reference, each union found is collapsed once and what it became is not walked
    again: `_column` collapses every position anew before writing it, which resolves what a
    lone member left behind, one layer per level.
    """
    if node.kind == "union":
        return replace(_collapse_union(node.items), description=node.description)
    if node.kind == "object":
        return replace(node, fields={k: collapse(v) for k, v in node.fields.items()})
    if node.kind in ("map", "array"):
        return replace(node, value=collapse(node.value))
    if node.kind == "tuple":
        return replace(node, items=tuple(collapse(i) for i in node.items))
    return node


def _collapse_union(members: tuple[Node, ...] | list[Node]) -> Node:
    """One type for a union's members; nullable if a member is null or nullable.

    A lone member is taken as it is, nullable only if it is the null type. Otherwise nested
    unions are collapsed first and the non-null members must all be atoms, objects, maps or
    arrays: anything else is incompatible.
    """
    if len(members) == 1:
        only = members[0]
        return replace(only, nullable=only.kind == "null", description=None)
    rest = [_collapse_union(m.items) if m.kind == "union" else m for m in members if m.kind != "null"]
    nullable = any(m.kind == "null" for m in members) or any(m.nullable for m in rest)
    kinds = {m.kind for m in rest}
    if not rest:
        result = Node("null")
    elif kinds == {"atom"}:
        result = Node("atom", reduce(_union_atom, (m.atom for m in rest)))
    elif kinds == {"object"}:
        result = reduce(_merge_objects, rest)
    elif kinds == {"map"} or kinds == {"array"}:
        result = Node(rest[0].kind, value=_collapse_union([m.value for m in rest]))
    else:
        result = JSON
    return infer_nullability(replace(result, nullable=nullable, description=None), force=False)


def _union_atom(left: str, right: str) -> str:
    return ATOM_UNIONS.get((left, right), "json")


def _merge_objects(left: Node, right: Node) -> Node:
    """Two objects as one: each field is the union of its versions, required where both require it.

    A field whose versions do not combine, or whose only version is already a JSON value (an
    empty schema, say), makes the merged object a JSON value: the conflict invalidates the
    whole tree rather than one leaf. An object without a `required` list defers to the other.
    """
    if left.kind != "object":
        return JSON  # an earlier member already conflicted
    versions: dict[str, list[Node]] = {name: [sub] for name, sub in left.fields.items()}
    for name, sub in right.fields.items():
        versions.setdefault(name, []).append(sub)
    fields = {name: _collapse_union(subs) for name, subs in versions.items()}
    if any(f.is_json for f in fields.values()):
        return JSON
    if left.required is not None and right.required is not None:
        required: frozenset[str] | None = left.required & right.required
    else:
        required = left.required if left.required is not None else right.required
    return Node("object", fields=fields, required=required)


# ---------------------------------------------------------------------------------------------
# Node tree -> BigQuery fields


def to_bigquery(node: Node, options: Options = MOZILLA) -> list[dict]:
    """BigQuery columns for a parsed root node.

    A root that becomes a RECORD gives its fields as the table's columns, unless the schema
    declared an array or a map there: that (as any other type) is one column named `root`.
    Like the reference, the declared kind is the one before unions are collapsed.
    """
    column = _column("root", infer_nullability(node, options.force_nullable), "", options)
    if column is None:
        return []
    if column["type"] == "RECORD" and node.kind not in ("array", "map"):
        return column["fields"]
    return [column]


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _record_fields(node: Node, path: str, options: Options) -> list[dict]:
    columns = (_column(name, sub, _join(path, name), options) for name, sub in sorted(node.fields.items()))
    return [c for c in columns if c is not None]


def _mode(node: Node) -> str:
    if node.kind in ("array", "map"):
        return "REPEATED"
    return "NULLABLE" if node.nullable else "REQUIRED"


def _column(name: str, node: Node, path: str, options: Options) -> dict | None:
    """One BigQuery field, or None when the value has no column (dropped).

    Every position is collapsed and its nullability inferred anew before it is written, as the
    reference does at each level; that is what resolves unions nested in lone union members.
    """
    node = infer_nullability(collapse(node), options.force_nullable)
    type_part = _column_type(node, path, options)
    if type_part is None:
        return None
    column: dict[str, Any] = {**type_part, "mode": _mode(node), "name": name}
    if node.description is not None:
        column["description"] = node.description[:MAX_DESCRIPTION_LENGTH]
    return dict(sorted(column.items()))


def _column_type(node: Node, path: str, options: Options) -> dict | None:
    """The type part of a field ({"type": ..., "fields": ...}); for arrays, that of their items."""
    if node.kind == "atom":
        if not node.is_json:
            return {"type": BQ_ATOM[node.atom]}
        if options.json_object_path_regex and re.match(options.json_object_path_regex, path or "__unknown__"):
            return {"type": "JSON"}
        return _unrepresentable(path, options, "json atom")
    if node.kind == "object":
        fields = _record_fields(node, path, options)
        return {"fields": fields, "type": "RECORD"} if fields else _unrepresentable(path, options, "empty object")
    if node.kind == "tuple":
        return _tuple_type(node, path, options)
    if node.kind == "array":
        return _array_type(node, path, options)
    if node.kind == "map":
        return _map_type(node, path, options)
    return _unrepresentable(path, options, f"{node.kind} type")


def _tuple_type(node: Node, path: str, options: Options) -> dict | None:
    """Positional fields `f0_`, `f1_`, ... (sorted by name, as the reference does); any dropped item drops the tuple."""
    names = [f"f{i}_" for i in range(len(node.items))]
    columns = [_column(name, item, _join(path, name), options) for name, item in zip(names, node.items, strict=True)]
    if any(c is None for c in columns):
        return None
    return {"fields": sorted(columns, key=lambda c: c["name"]), "type": "RECORD"}


def _array_type(node: Node, path: str, options: Options) -> dict | None:
    """The items' type; BigQuery has no array of arrays, so an inner array is wrapped in a `list` record."""
    inner = _column("list", node.value, _join(path, "list"), options)
    if inner is None:
        return None
    if node.value.kind == "array":
        return {"fields": [inner], "type": "RECORD"}
    return {k: v for k, v in inner.items() if k in ("fields", "type")}


def _map_type(node: Node, path: str, options: Options) -> dict | None:
    key = {"mode": "NULLABLE" if options.force_nullable else "REQUIRED", "name": "key", "type": "STRING"}
    value = _column("value", node.value, _join(path, "value"), options)
    if value is None:
        return {"fields": [key], "type": "RECORD"} if options.allow_maps_without_value else None
    return {"fields": [key, value], "type": "RECORD"}


def _unrepresentable(path: str, options: Options, why: str) -> dict | None:
    if options.resolve == "cast":
        return {"type": "STRING"}
    if options.resolve == "panic":
        raise TranspileError(f"{path or 'root'}: {why}")
    return None


# ---------------------------------------------------------------------------------------------
# Whole-schema entry points


def merge_metadata(schema: dict, metadata_schema: dict) -> dict:
    """Inject the pipeline's metadata columns, as MPS does before transpiling.

    The metadata schema's properties replace same-named ones in the document schema; its
    `required` list is appended.
    """
    merged = copy.deepcopy(schema)
    merged.setdefault("properties", {}).update(copy.deepcopy(metadata_schema.get("properties", {})))
    merged["required"] = list(merged.get("required", [])) + list(metadata_schema.get("required", []))
    return merged


def transpile(schema: dict, options: Options = MOZILLA) -> list[dict]:
    """BigQuery schema (list of fields) for a JSON schema; metadata must already be merged.

    Like the reference, a `mozPipelineMetadata.json_object_path_regex` in the schema wins over
    the option of the same name.
    """
    regex = (schema.get("mozPipelineMetadata") or {}).get("json_object_path_regex")
    if isinstance(regex, str):
        options = replace(options, json_object_path_regex=regex)
    return to_bigquery(parse(schema, options), options)
