#!/usr/bin/env bash
# Build the Dataflow images and the Flex Template once, for a release; deploy/dataflow/launch.sh starts
# jobs from what this writes, as many times as needed, without building anything:
#   deploy/dataflow/build.sh PROJECT REGION BUCKET VERSION [RELEASE_FILE]
# Run from the repository root, with docker (or podman: ENGINE=podman) and gcloud logged in to PROJECT.
# The images are pushed, then named by digest: the template and RELEASE_FILE (default
# dataflow-release-VERSION.env) hold PROJECT, REGION, TEMPLATE, LAUNCHER and WORKER, never a tag. The
# bases they are built on are named by digest too (deploy/bases.env, BASES=FILE for another).
set -euo pipefail

if [ "$#" -lt 4 ]; then
  sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
PROJECT=$1 REGION=$2 BUCKET=$3 VERSION=$4
RELEASE=${5:-dataflow-release-$VERSION.env}
ENGINE=${ENGINE:-docker}
BASES=${BASES:-deploy/bases.env}   # the base images, by digest (deploy/pin-bases.sh)
# shellcheck source=../bases.env
. "$BASES"
for base in PYTHON_BASE BEAM_BASE; do
  case "${!base:-}" in
    *@sha256:*) ;;
    *) echo "$BASES: $base is not named by digest (${!base:-unset}): run deploy/pin-bases.sh where the registry is reachable" >&2; exit 1 ;;
  esac
done
REPO="$REGION-docker.pkg.dev/$PROJECT/pingpipe"
TEMPLATE="gs://$BUCKET/templates/pingpipe-decoder-$VERSION.json"

# The launcher's pingpipe and the workers' come from one lock (deploy/requirements-dataflow.lock).
"$ENGINE" build -f deploy/dataflow/Dockerfile --build-arg "BEAM_BASE=$BEAM_BASE" -t "$REPO/beam-worker:$VERSION" .
"$ENGINE" build -f deploy/Dockerfile --build-arg "BASE=$PYTHON_BASE" --build-arg LOCK=requirements-dataflow.lock \
  -t "$REPO/pingpipe-dataflow:$VERSION" .
"$ENGINE" build -f deploy/dataflow/launcher.Dockerfile --build-arg PINGPIPE="$REPO/pingpipe-dataflow:$VERSION" \
  -t "$REPO/decoder-launcher:$VERSION" .

digest() {  # push, then the image as REPOSITORY@sha256:... (what was pushed, whatever the tag later names)
  "$ENGINE" push "$1" >&2
  "$ENGINE" inspect --format '{{index .RepoDigests 0}}' "$1"
}
WORKER=$(digest "$REPO/beam-worker:$VERSION")
LAUNCHER=$(digest "$REPO/decoder-launcher:$VERSION")

gcloud dataflow flex-template build "$TEMPLATE" --project "$PROJECT" \
  --image "$LAUNCHER" --sdk-language PYTHON --metadata-file deploy/dataflow/metadata.json

printf 'PROJECT=%s\nREGION=%s\nBUCKET=%s\nTEMPLATE=%s\nLAUNCHER=%s\nWORKER=%s\n' \
  "$PROJECT" "$REGION" "$BUCKET" "$TEMPLATE" "$LAUNCHER" "$WORKER" > "$RELEASE"
echo "$RELEASE"
