"""JSON Schema -> BigQuery table schema, with the rules Mozilla's pipeline uses.

The `.bq` files in mozilla-pipeline-schemas are what `jsonschema-transpiler --type bigquery
--resolve drop --normalize-case --force-nullable --tuple-struct` makes of each schema after the
pipeline's metadata schema was merged into it. This module reproduces that output:

* Names are snake_cased (`casing.snake_case`); record fields are sorted by name.
* An object with `properties` is a RECORD. An object without them but with a schema in
  `additionalProperties` (or `patternProperties`) is a map: a REPEATED RECORD of `key`/`value`.
* An array is REPEATED; an array of arrays becomes a REPEATED RECORD holding a `list` field.
  A tuple (`items` as a list) is a RECORD of `_f0`, `_f1`, ... fields.
* `type` lists, `oneOf` and `allOf` are unions, collapsed to one compatible type: a null member
  makes the field nullable, integer+number is a number, objects merge field by field.
* What stays under-specified or incompatible is a JSON value. Under the `drop` resolution
  such a field is left out of the table (its data ends in `additional_properties`); under
  `cast` it is a STRING; if its path matches the schema's `json_object_path_regex` it is a
  BigQuery JSON column.
* With `force_nullable` every non-repeated field is NULLABLE.
* Properties named `$...` (the Glean ping's `$schema`) have no column.

The work is split in two pure passes: `parse` turns a JSON schema into a small tree of `Node`s,
`to_bigquery` turns the tree into BigQuery fields.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from .casing import snake_case

ATOMS = ("boolean", "integer", "number", "string", "datetime", "bytes", "json")
BQ_ATOM = {
    "boolean": "BOOL",
    "integer": "INT64",
    "number": "FLOAT64",
    "string": "STRING",
    "datetime": "TIMESTAMP",
    "bytes": "BYTES",
}


class TranspileError(ValueError):
    """A schema that cannot be expressed as a table (only raised with resolve='panic')."""


@dataclass
class Node:
    """One schema position: kind is null, atom, object, map, array, tuple or union."""

    kind: str
    atom: str | None = None
    fields: dict[str, "Node"] = field(default_factory=dict)
    required: set[str] | None = None
    value: "Node | None" = None  # map values and array items
    items: list["Node"] = field(default_factory=list)  # union members and tuple items
    nullable: bool = False
    description: str | None = None

    @property
    def is_json(self) -> bool:
        return self.kind == "atom" and self.atom == "json"


@dataclass(frozen=True)
class Options:
    resolve: str = "drop"  # drop | cast | panic
    normalize_case: bool = True
    force_nullable: bool = True
    tuple_struct: bool = True
    json_object_path_regex: str | None = None


MOZILLA = Options()


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


def _json(schema: dict, nullable: bool = False) -> Node:
    return Node("atom", "json", nullable=nullable, description=_description(schema))


def parse(schema: Any, options: Options = MOZILLA, *, root: bool = True) -> Node:
    """Turn a JSON schema (draft 4/6/7 subset used by MPS) into a Node tree."""
    if not isinstance(schema, dict):
        # `true` / `false` / garbage: nothing is known about the value.
        return Node("atom", "json")
    type_ = schema.get("type")
    if isinstance(type_, list):
        members = [_parse_single(schema, t, options) for t in type_]
        node = Node("union", items=members, description=_description(schema))
        node.nullable = any(m.kind == "null" for m in members)
        return node
    return _parse_single(schema, type_, options)


def _parse_single(schema: dict, type_: Any, options: Options) -> Node:
    desc = _description(schema)
    fmt = schema.get("format")
    if type_ == "null":
        return Node("null", nullable=True, description=desc)
    if type_ == "string":
        atom = {"date-time": "datetime", "bytes": "bytes"}.get(fmt, "string")
        return Node("atom", atom, description=desc)
    if type_ in ("boolean", "integer", "number"):
        return Node("atom", type_, description=desc)
    if type_ == "array":
        return _parse_array(schema, desc, options)
    if type_ is None or type_ == "object":
        return _parse_object(schema, desc, options)
    raise TranspileError(f"unknown JSON schema type {type_!r}")


def _parse_object(schema: dict, desc: str | None, options: Options) -> Node:
    props = schema.get("properties")
    if isinstance(props, dict):
        fields = {name: parse(sub, options, root=False) for name, sub in props.items()}
        required = set(schema["required"]) if isinstance(schema.get("required"), list) else None
        return Node("object", fields=fields, required=required, description=desc)
    additional = schema.get("additionalProperties")
    patterns = schema.get("patternProperties")
    values: list[Node] = []
    if isinstance(additional, dict):
        values.append(parse(additional, options, root=False))
    if isinstance(patterns, dict):
        values.extend(parse(sub, options, root=False) for sub in patterns.values())
    if values:
        value = values[0] if len(values) == 1 else Node("union", items=values)
        return Node("map", value=value, description=desc)
    if isinstance(schema.get("oneOf"), list) or isinstance(schema.get("anyOf"), list):
        members = [parse(s, options, root=False) for s in schema.get("oneOf") or schema["anyOf"]]
        node = Node("union", items=members, description=desc)
        node.nullable = any(m.kind == "null" for m in members)
        return node
    if isinstance(schema.get("allOf"), list):
        return _parse_all_of(schema, desc, options)
    return Node("atom", "json", description=desc)


def _parse_all_of(schema: dict, desc: str | None, options: Options) -> Node:
    """allOf: every subschema holds at once, so their properties and requirements add up."""
    merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
    for sub in schema["allOf"]:
        if not isinstance(sub, dict):
            continue
        merged["properties"].update(sub.get("properties") or {})
        merged["required"].extend(sub.get("required") or [])
        for key in ("additionalProperties", "patternProperties", "oneOf", "anyOf"):
            if key in sub and key not in merged:
                merged[key] = sub[key]
    if not merged["properties"]:
        del merged["properties"]
    node = _parse_object(merged, desc, options)
    return node


def _parse_array(schema: dict, desc: str | None, options: Options) -> Node:
    items = schema.get("items")
    if isinstance(items, list):
        if not options.tuple_struct:
            return Node("atom", "json", description=desc)
        return _parse_tuple(schema, items, desc, options)
    if items is None:
        return _unresolvable(desc, options, "array without items")
    return Node("array", value=parse(items, options, root=False), description=desc)


def _parse_tuple(schema: dict, items: list, desc: str | None, options: Options) -> Node:
    members = [parse(s, options, root=False) for s in items]
    min_items = schema.get("minItems", len(members))
    for member in members[min_items:]:
        member.nullable = True
    additional = schema.get("additionalItems")
    max_items = schema.get("maxItems")
    if isinstance(additional, dict):
        if max_items is None or max_items < len(members):
            return _unresolvable(desc, options, "maxItems must cover the tuple")
        for _ in range(len(members), max_items):
            extra = parse(additional, options, root=False)
            extra.nullable = True
            members.append(extra)
    elif additional is False:
        pass
    elif additional is None:
        if max_items != len(members):
            return _unresolvable(desc, options, "maxItems must be set if additionalItems are allowed")
    else:
        return _unresolvable(desc, options, "additionalItems set incorrectly")
    return Node("tuple", items=members, description=desc)


def _unresolvable(desc: str | None, options: Options, why: str) -> Node:
    if options.resolve == "panic":
        raise TranspileError(why)
    return Node("atom", "json", description=desc)


# ---------------------------------------------------------------------------------------------
# Unions


def collapse(node: Node) -> Node:
    """Resolve every union in the tree into one type (returns new nodes, never mutates)."""
    if node.kind == "union":
        merged = _collapse_union(node.items)
        merged.description = node.description if node.description is not None else merged.description
        merged.nullable = merged.nullable or node.nullable
        return merged
    if node.kind == "object":
        return Node(
            "object",
            fields={k: collapse(v) for k, v in node.fields.items()},
            required=node.required,
            nullable=node.nullable,
            description=node.description,
        )
    if node.kind in ("map", "array"):
        return Node(node.kind, value=collapse(node.value), nullable=node.nullable, description=node.description)
    if node.kind == "tuple":
        return Node("tuple", items=[collapse(i) for i in node.items], nullable=node.nullable, description=node.description)
    return node


def _collapse_union(members: list[Node]) -> Node:
    has_null = any(m.kind == "null" for m in members)
    if len(members) == 1:
        only = copy.copy(collapse(members[0]))
        only.nullable = only.nullable or has_null
        only.description = None  # a collapsed union keeps only the description of its own position
        return only
    rest = [collapse(m) for m in members if m.kind != "null"]
    nullable = has_null or any(m.nullable for m in rest)
    if not rest:
        return Node("null", nullable=True)
    kinds = {m.kind for m in rest}
    if kinds == {"atom"}:
        result = Node("atom", _merge_atoms(m.atom for m in rest))
    elif kinds == {"object"}:
        result = _merge_objects(rest)
    elif kinds == {"map"}:
        result = Node("map", value=_collapse_union([m.value for m in rest]))
    elif kinds == {"array"}:
        result = Node("array", value=_collapse_union([m.value for m in rest]))
    else:
        result = Node("atom", "json")
    result.nullable = nullable
    return result


def _merge_atoms(atoms: Iterable[str | None]) -> str:
    result: str | None = None
    for atom in atoms:
        if result is None or result == atom:
            result = atom
        elif {result, atom} == {"integer", "number"}:
            result = "number"
        else:
            return "json"
    return result or "json"


def _merge_objects(objects: list[Node]) -> Node:
    if len(objects) == 1:
        only = objects[0]
        return Node("object", fields=only.fields, required=only.required)
    names: dict[str, list[Node]] = {}
    for obj in objects:
        for name, sub in obj.fields.items():
            names.setdefault(name, []).append(sub)
    fields = {name: _collapse_union(subs) for name, subs in names.items()}
    if any(f.is_json for f in fields.values()):
        # A conflict anywhere below makes the whole object an opaque JSON value.
        return Node("atom", "json")
    required: set[str] | None = None
    for obj in objects:
        if obj.required is not None:
            required = set(obj.required) if required is None else required & obj.required
    return Node("object", fields=fields, required=required)


# ---------------------------------------------------------------------------------------------
# Node tree -> BigQuery fields


def to_bigquery(node: Node, options: Options = MOZILLA) -> list[dict]:
    """BigQuery columns for a collapsed root node."""
    node = collapse(node)
    if node.kind == "object" and node.fields:
        return _record_fields(node, "", options)
    column = _field("root", node, "", options, required=not node.nullable)
    return [column] if column is not None else []


def _record_fields(node: Node, path: str, options: Options) -> list[dict]:
    required = node.required or set()
    columns: dict[str, dict] = {}
    for name, sub in node.fields.items():
        if name.startswith("$"):
            continue  # "$schema" and friends describe the document, they are not data columns
        bq_name = column_name(name) if options.normalize_case else name
        sub_path = f"{path}.{bq_name}" if path else bq_name
        column = _field(bq_name, sub, sub_path, options, required=name in required and not sub.nullable)
        if column is not None:
            columns[bq_name] = column
    return [columns[k] for k in sorted(columns)]


def column_name(name: str) -> str:
    """A BigQuery column name for a JSON property: snake_case, never starting with a digit."""
    snake = snake_case(name)
    return f"_{snake}" if snake[:1].isdigit() else snake


def _mode(required: bool, options: Options) -> str:
    return "REQUIRED" if required and not options.force_nullable else "NULLABLE"


def _field(name: str, node: Node, path: str, options: Options, *, required: bool) -> dict | None:
    """One BigQuery field, or None when the value has no column (dropped JSON)."""
    column: dict[str, Any] = {}
    if node.description is not None:
        column["description"] = node.description
    if node.kind == "array":
        inner = _field_type(node.value, path, options)
        if inner is None:
            return None
        column.update(inner)
        column["mode"] = "REPEATED"
    elif node.kind == "map":
        key = {"mode": _mode(True, options), "name": "key", "type": "STRING"}
        value = _field("value", node.value, f"{path}.value", options, required=not node.value.nullable)
        if value is None:
            return None
        column.update({"fields": [key, value], "mode": "REPEATED", "type": "RECORD"})
    else:
        inner = _field_type(node, path, options)
        if inner is None:
            return None
        column.update(inner)
        column["mode"] = _mode(required, options)
    column["name"] = name
    return dict(sorted(column.items()))


def _field_type(node: Node, path: str, options: Options) -> dict | None:
    """The type part of a field ({"type": ..., "fields": ...}) for a non-repeated position."""
    if node.kind == "atom" and node.atom != "json":
        return {"type": BQ_ATOM[node.atom]}
    if node.kind == "null":
        return _json_type(path, options, why="null-only value")
    if node.kind == "object":
        if not node.fields:
            return _json_type(path, options, why="empty record")
        fields = _record_fields(node, path, options)
        if not fields:
            return _json_type(path, options, why="record without representable fields")
        return {"fields": fields, "type": "RECORD"}
    if node.kind == "tuple":
        fields = []
        for i, item in enumerate(node.items):
            column = _field(f"_f{i}", item, f"{path}._f{i}", options, required=not item.nullable)
            if column is not None:
                fields.append(column)
        return {"fields": fields, "type": "RECORD"} if fields else _json_type(path, options, why="empty tuple")
    if node.kind == "array":
        # An array inside an array: BigQuery has no nested REPEATED, so wrap it in a record.
        inner = _field("list", node, f"{path}.list", options, required=False)
        if inner is None:
            return None
        return {"fields": [inner], "type": "RECORD"}
    if node.kind == "map":
        # A map as an array element: the array's entries are the key/value records themselves.
        value = _field("value", node.value, f"{path}.value", options, required=not node.value.nullable)
        if value is None:
            return None
        key = {"mode": _mode(True, options), "name": "key", "type": "STRING"}
        return {"fields": [key, value], "type": "RECORD"}
    return _json_type(path, options, why="incompatible or under-specified schema")


def _json_type(path: str, options: Options, *, why: str) -> dict | None:
    if options.json_object_path_regex and re.search(options.json_object_path_regex, path):
        return {"type": "JSON"}
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


def transpile(schema: dict, options: Options | None = None) -> list[dict]:
    """BigQuery schema (list of fields) for a JSON schema; metadata must already be merged."""
    if options is None:
        meta = schema.get("mozPipelineMetadata") or {}
        options = Options(json_object_path_regex=meta.get("json_object_path_regex"))
    return to_bigquery(parse(schema, options), options)
