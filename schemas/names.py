"""What a Glean application id becomes: the document namespace its SDK sends, and its datasets' names.

One rule for every caller (schema generation, the dictionary, log ingestion), so a dotted or
uppercase id lands where the SDK's pings land.
"""

from __future__ import annotations

import re

# What application ids are made of on every platform Glean runs on (Android package names, Apple
# bundle ids, the ids of Glean.js and server apps). Glean folds anything else into "-" as well, but
# then two different ids share a namespace, and text like quotes, "<", "/" or spaces is no name.
_APP_ID = re.compile(r"[A-Za-z0-9._-]+")
APP_ID_RULE = "ASCII letters, digits, '.', '-' and '_', with at least one letter or digit"


class AppIdError(ValueError):
    pass


def check_app_id(app_id: str) -> str:
    """The id unchanged, if it is one to name namespaces and datasets after; else AppIdError (one line)."""
    if not (_APP_ID.fullmatch(app_id) and re.search(r"[A-Za-z0-9]", app_id)):
        raise AppIdError(f"{app_id!r} is not an application id: use {APP_ID_RULE} (e.g. org.example.app)")
    return app_id


def glean_namespace(app_id: str) -> str:
    """The document namespace the Glean SDK sends: glean-core's sanitize_application_id (ASCII letters
    and digits, lowercased; each run of anything else one "-")."""
    return re.sub(r"[^A-Za-z0-9]+", "-", app_id).lower()


def dataset_family(namespace: str) -> str:
    """`<family>_live`, `<family>_stable`, `<family>_derived`, `<family>`: the namespace with "-" as "_",
    as Mozilla names a Glean app's datasets."""
    return namespace.replace("-", "_")
