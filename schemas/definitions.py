"""Glean definitions kept beside the schemas made from them: `<registry>/apps/<namespace>/`.

`pingpipe schemas glean --out ROOT` copies the metrics.yaml and pings.yaml it read into
`ROOT/apps/<namespace>/`, with `app.yaml` naming the application id. The data dictionary then
describes each table from the very definitions its columns came from, with no second source to
keep in sync. The registry ignores the folder: no file there is a schema.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import yaml

from .glean import GleanApp, GleanDefinitionError, app_namespace, load_app

APPS = "apps"
APP_FILE = "app.yaml"


@dataclass
class Definitions:
    """Every app's definitions found in a registry, and those that could not be read (folder -> why)."""

    apps: dict[str, GleanApp] = field(default_factory=dict)  # by namespace
    problems: dict[str, str] = field(default_factory=dict)


def save(root: Path, app_id: str, files: Iterable[Path], *, builtins: bool = True) -> Path:
    """Copy an app's definition files to `root/apps/<namespace>/` (replacing what was there)."""
    folder = Path(root) / APPS / app_namespace(app_id)
    if folder.is_dir():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    names = []
    for i, path in enumerate(files):
        name = Path(path).name if Path(path).name != APP_FILE else f"{i}-{APP_FILE}"
        if name in names:
            name = f"{i}-{name}"
        shutil.copyfile(path, folder / name)
        names.append(name)
    (folder / APP_FILE).write_text(yaml.safe_dump({"app_id": app_id, "files": names, "builtins": builtins}, sort_keys=False))
    return folder


def load(root: Path) -> Definitions:
    """The apps under `root/apps/`: `app.yaml` gives the id and files; without it, the folder's name is
    the id and every YAML file in it is read. A folder glean_parser rejects is a problem, not a crash."""
    found = Definitions()
    base = Path(root) / APPS
    if not base.is_dir():
        return found
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        try:
            about = yaml.safe_load((folder / APP_FILE).read_text()) if (folder / APP_FILE).is_file() else {}
            if not isinstance(about, dict):
                raise GleanDefinitionError(f"{APP_FILE} must be a mapping")
            names = about.get("files") or sorted(p.name for p in folder.glob("*.yaml") if p.name != APP_FILE)
            files = [folder / name for name in names]
            app = load_app(str(about.get("app_id") or folder.name), files, include_builtins=about.get("builtins", True))
        except (GleanDefinitionError, OSError, yaml.YAMLError) as exc:
            found.problems[str(folder)] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            continue
        found.apps[app.namespace] = app
    return found
