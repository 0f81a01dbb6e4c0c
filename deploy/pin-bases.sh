#!/usr/bin/env bash
# Name each base image of deploy/bases.env by digest: pull its tag, then write REPOSITORY:TAG@sha256:...
#   deploy/pin-bases.sh [BASES_FILE]     (default deploy/bases.env; ENGINE=podman to use podman)
# Run where the registry can be reached, before deploy/dataflow/build.sh, and commit the result: every
# later build of the release starts from the same bytes. Run again to move to the tags' newest
# digests; an entry with a digest and no tag is kept.
set -euo pipefail
BASES=${1:-deploy/bases.env}
ENGINE=${ENGINE:-docker}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
while IFS= read -r line; do
  name=${line%%=*} ref=${line#*=}
  tagged=${ref%@sha256:*}
  case "$line" in
    \#* | "") echo "$line" >> "$out"; continue ;;
  esac
  case "${tagged##*/}" in
    *:*) ;;
    *) echo "$line" >> "$out"; continue ;;   # no tag to resolve
  esac
  "$ENGINE" pull "$tagged" >&2
  digest=$("$ENGINE" inspect --format '{{index .RepoDigests 0}}' "$tagged")
  case "$digest" in
    *@sha256:*) echo "$name=$tagged@sha256:${digest#*@sha256:}" >> "$out" ;;
    *) echo "$tagged: $ENGINE gave no digest ($digest)" >&2; exit 1 ;;
  esac
done < "$BASES"
cp "$out" "$BASES"
grep -v '^#' "$BASES"
