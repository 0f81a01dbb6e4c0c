"""`pingpipe schemas ...`: build, transpile, glean, check."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from pingpipe.schemas import definitions
from pingpipe.schemas import glean as glean_mod
from pingpipe.schemas.build import bq_for_file, dump_json, guess_repo_root
from pingpipe.schemas.names import APP_ID_RULE, AppIdError, check_app_id
from pingpipe.schemas.registry import Registry, RegistryError, metadata_schema

from .target import on_target


@click.group("schemas")
def schemas() -> None:
    """The schema registry: build .bq tables, generate Glean app schemas, check a repository."""


@schemas.command("init")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
def init(dest: Path) -> None:
    """Start a schema registry at DEST from the one that ships with pingpipe (the pipeline's metadata
    schemas, the generic Glean schema and the demo app), to add your own apps to with `schemas glean`."""
    import shutil

    from pingpipe.schemas.registry import default_root

    if dest.exists() and any(dest.iterdir()):
        raise click.ClickException(f"{dest} is not empty: give a new folder")
    shutil.copytree(default_root(), dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    click.echo(
        f"{dest}: the shipped schemas; add an app with `pingpipe schemas glean ... --out {dest}`, then run `pingpipe up --schemas {dest}`"
    )


@schemas.command("build")
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the .bq files, mirroring SRC's layout.",
)
def build(src: Path, out: Path) -> None:
    """Write the BigQuery schema (.bq) of every *.schema.json under SRC to OUT.

    The metadata columns for `structured` and `telemetry` tables come from SRC's own
    metadata/ namespace when it has one (as in mozilla-pipeline-schemas), else pingpipe's.
    A Glean app's ping schemas get the generic Glean columns here, with a warning: the
    per-metric tables Mozilla generates for them come from `pingpipe schemas glean`.
    """
    failures = 0
    count = 0
    glean_pings: dict[str, list[str]] = {}
    found = sorted(src.rglob("*.schema.json"))
    if not found:
        raise click.ClickException(f"no *.schema.json files under {src}")
    for path in found:
        rel = path.relative_to(src)
        target = out / rel.parent / (path.name[: -len(".schema.json")] + ".bq")
        try:
            bq = bq_for_file(path, src)
        except Exception as exc:  # noqa: BLE001 - report every bad file, keep building the rest
            failures += 1
            click.echo(f"error: {path}: {exc}", err=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dump_json(bq))
        count += 1
        namespace = _glean_app_namespace(rel, path)
        if namespace is not None:
            glean_pings.setdefault(namespace, []).append(rel.parent.name)
    for namespace, doctypes in sorted(glean_pings.items()):
        click.echo(_generic_glean_warning(namespace, doctypes), err=True)
    generic = sum(len(d) for d in glean_pings.values())
    note = f" ({generic} with generic Glean columns)" if generic else ""
    click.echo(f"wrote {count} BigQuery schema(s){note} to {out}" + (f"; {failures} failed" if failures else ""), err=True)
    if failures:
        sys.exit(1)


def _glean_app_namespace(rel: Path, path: Path) -> str | None:
    """The namespace of a Glean app's ping schema at REL, else None.

    `glean/glean/` is the generic Glean schema itself, whose open maps are the point.
    """
    if len(rel.parts) < 3 or rel.parts[:2] == ("glean", "glean"):
        return None
    schema = json.loads(path.read_bytes())
    return rel.parts[0] if glean_mod.is_glean_ping_schema(schema) else None


def _generic_glean_warning(namespace: str, doctypes: list[str]) -> str:
    return (
        f"warning: namespace {namespace}: {len(doctypes)} Glean ping schema(s) ({', '.join(sorted(set(doctypes)))}) "
        "got the generic Glean columns, each metric type one open key/value map: not the per-metric "
        "tables Mozilla generates for a Glean app.\n"
        f"  For those, generate {namespace}'s schemas from its definitions: "
        "pingpipe schemas glean --app-id APP_ID --metrics metrics.yaml --pings pings.yaml --out DIR"
    )


@schemas.command("transpile")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--metadata-root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Schema repository whose metadata/ namespace supplies the injected columns.",
)
def transpile_cmd(file: Path, metadata_root: Path | None) -> None:
    """Print one schema's BigQuery table schema (.bq JSON) to stdout."""
    try:
        bq = bq_for_file(file, metadata_root or guess_repo_root(file))
    except Exception as exc:  # noqa: BLE001 - whatever the schema's fault, one line
        raise click.ClickException(f"{file}: {exc}") from None
    click.echo(dump_json(bq), nl=False)


def _parse_ping_days(values: tuple[str, ...]) -> dict[str, int]:
    result = {}
    for value in values:
        ping, sep, days = value.partition("=")
        if not sep or not days.isdigit():
            raise click.BadParameter(f"{value!r}: expected PING=DAYS", param_hint="--ping-expiration")
        result[ping] = int(days)
    return result


def _app_id(ctx, param, value: str) -> str:
    try:
        return check_app_id(value)
    except AppIdError as exc:
        raise click.BadParameter(str(exc)) from None


@schemas.command("glean")
@click.option(
    "--app-id", required=True, callback=_app_id, help="The application id, as given to Glean (e.g. org.mozilla.fenix): " + APP_ID_RULE + "."
)
@click.option(
    "--metrics", "metrics", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="A metrics.yaml (repeatable)."
)
@click.option(
    "--pings", "pings", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="A pings.yaml (repeatable)."
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Schema repository to write <namespace>/<ping>/<ping>.1.{schema.json,bq} into "
    "(and the definitions, for the data dictionary, into apps/<namespace>/).",
)
@click.option("--expiration-days", type=int, default=None, help="expiration_policy.delete_after_days for every ping.")
@click.option("--ping-expiration", multiple=True, help="PING=DAYS: a ping's own expiration (repeatable).")
@click.option("--no-builtins", is_flag=True, help="Leave out Glean's own metrics and pings.")
@click.option(
    "--bug-1737656",
    "bug_1737656",
    multiple=True,
    metavar="PING",
    help="Reproduce a Mozilla table created before November 2021 (bug 1737656): keep "
    "jwe/labeled_rate/text/url as key/value maps (repeatable).",
)
@click.option(
    "--metadata-root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Schema repository whose metadata/ and glean/glean/ schemas to use instead of pingpipe's.",
)
def glean_cmd(app_id, metrics, pings, out, expiration_days, ping_expiration, no_builtins, bug_1737656, metadata_root):
    """Generate the schemas of a Glean application from its metric and ping definitions."""
    if not metrics and not pings:
        raise click.UsageError("give at least one --metrics or --pings file")
    try:
        app = glean_mod.load_app(app_id, metrics, pings, include_builtins=not no_builtins)
    except glean_mod.GleanDefinitionError as exc:
        raise click.ClickException(glean_problems(exc.problems)) from None
    ping_days = _parse_ping_days(ping_expiration)
    _require_known_pings(app, ping_days, "--ping-expiration")
    _require_known_pings(app, bug_1737656, "--bug-1737656")
    built = glean_mod.build(
        app,
        metadata_schema=metadata_schema("structured", metadata_root),
        expiration_days=expiration_days,
        ping_expiration=ping_days,
        bug_1737656_affected=bug_1737656,
        generic_root=metadata_root,
    )
    for ping, (published, bq) in sorted(built.items()):
        folder = out / app.namespace / ping
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{ping}.1.schema.json").write_text(dump_json(published))
        (folder / f"{ping}.1.bq").write_text(dump_json(bq))
    definitions.save(out, app_id, [*metrics, *pings], builtins=not no_builtins)  # what the data dictionary reads
    click.echo(
        f"{app_id}: namespace {app.namespace}, {len(built)} ping(s), {len(app.metrics)} metric(s) -> {out / app.namespace}",
        err=True,
    )
    click.echo(_builtins_note(app), err=True)
    if bug_1737656:
        click.echo(
            f"bug 1737656: jwe, labeled_rate, text and url kept as key/value maps in {', '.join(sorted(set(bug_1737656)))}", err=True
        )


def glean_problems(problems: list[str], most: int = 10) -> str:
    """glean_parser's problems, one line each (`file:line: where: message`), at most `most` of them."""
    if len(problems) == 1:
        return problems[0]
    more = f"\n  … and {len(problems) - most} more" if len(problems) > most else ""
    return f"glean_parser found {len(problems)} problems:\n  " + "\n  ".join(problems[:most]) + more


def _require_known_pings(app: glean_mod.GleanApp, names, option: str) -> None:
    """A misspelt ping name would otherwise be ignored without a word."""
    unknown = sorted(set(names) - set(app.pings))
    if unknown:
        raise click.BadParameter(
            f"{', '.join(unknown)}: not a ping of {app.app_id} (pings: {', '.join(sorted(app.pings))})", param_hint=option
        )


def _builtins_note(app: glean_mod.GleanApp) -> str:
    """Say which glean-core release the built-in columns follow: Mozilla's tables also keep retired ones."""
    if app.builtins is None:
        return "built-ins: none (--no-builtins): no column for Glean's own metrics, no table for its pings"
    count = sum(1 for m in app.metrics if m.builtin)
    return (
        f"built-ins: {count} metric(s) and {len(app.builtin_pings)} ping(s) of glean-core from the installed "
        f"{app.builtins}; glean-core metrics retired before that release have no column here "
        "(Mozilla's tables keep them)"
    )


@schemas.command("check")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--validation",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="MPS-style validation/ folder: <namespace>/<doctype>.<version>.<case>.{pass,fail}.json",
)
def check(root: Path, validation: Path | None) -> None:
    """Load a schema repository (every file must be well-formed) and run its validation documents."""
    try:
        registry = Registry.load(root)
    except RegistryError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{root}: {len(registry)} schema(s) OK")
    if validation is None:
        return
    wrong = 0
    total = 0
    for doc in sorted(validation.glob("*/*.json")):
        pieces = doc.name.rsplit(".", 4)
        if len(pieces) != 5 or pieces[3] not in ("pass", "fail"):
            click.echo(f"skip {doc}: not <doctype>.<version>.<case>.pass|fail.json", err=True)
            continue
        doctype, version, _case, expect, _ = pieces
        total += 1
        entry = registry.find(doc.parent.name, doctype, version)
        if entry is None:
            wrong += 1
            click.echo(f"FAIL {doc}: no schema {doc.parent.name}/{doctype}/{version}")
            continue
        valid = entry.is_valid(json.loads(doc.read_bytes()))
        if valid != (expect == "pass"):
            wrong += 1
            click.echo(f"FAIL {doc}: expected {expect}, document is {'valid' if valid else 'invalid'}")
    click.echo(f"{total - wrong}/{total} validation document(s) as expected")
    if wrong:
        sys.exit(1)


@schemas.command("diff")
@click.argument("old", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("new", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--errors", is_flag=True, help="Also what NEW would recover of the error rows (`replay --dry-run` with NEW).")
@click.option(
    "--since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="With --errors: error rows submitted on or after this day."
)
@on_target(data_help="With --errors: the data folder whose error rows to try (through its running `up`, if one is).")
def diff(old: Path, new: Path, errors: bool, since, target) -> None:
    """What changing the schemas from OLD to NEW does: per table, the columns it adds, removes and
    retypes; with --errors, how many error rows NEW would recover, per doctype and error type, and
    into which tables: replay's own dry run, so the preview is what `pingpipe replay` then does."""
    from pingpipe.schemas.diff import registry_diff

    changes = registry_diff(Registry.load(old), Registry.load(new))
    for table, change in changes.items():
        if "new table" in change:
            click.echo(f"{table}: new table ({change['new table']} columns)")
        elif "gone" in change:
            click.echo(f"{table}: no schema in NEW (its rows would be errors)")
        else:
            click.echo(f"{table}: " + "; ".join(f"{kind} {', '.join(paths)}" for kind, paths in change.items()))
    if not changes:
        click.echo("no table changes")
    if not errors:
        return
    from pingpipe.up import tasks
    from pingpipe.up.replay import Selection

    from .replay import show

    report = tasks.replay(target, Selection(since.date() if since else None), dry_run=True, schemas=new)
    click.echo("with NEW, the error rows" + (f" since {since.date()}" if since else "") + ":")
    for doctype, kinds in report["recovers"].items():
        click.echo(f"  {doctype}: would recover " + ", ".join(f"{n} {kind}" for kind, n in kinds.items()))
    show(report, True)
    if report["recovers"]:
        click.echo("then, once NEW is deployed: pingpipe replay" + (f" --since {since.date()}" if since else ""))
