#!/usr/bin/env bash
# Build the Dataflow images and the Flex Template, then start the streaming decoder from it:
#   deploy/dataflow/launch.sh PROJECT REGION BUCKET VERSION SUBSCRIPTION [PARAM=VALUE ...]
# e.g. deploy/dataflow/launch.sh my-proj europe-west1 my-bucket 1.0 raw-decoder geoip_db=/opt/geoip/GeoIP2-City.mmdb
# Run from the repository root, with docker (or podman) and gcloud logged in to PROJECT.
# Extra PARAM=VALUE pairs are the template's parameters (deploy/dataflow/metadata.json).
set -euo pipefail

if [ "$#" -lt 5 ]; then
  sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
PROJECT=$1 REGION=$2 BUCKET=$3 VERSION=$4 SUBSCRIPTION=$5
shift 5
ENGINE=${ENGINE:-docker}
REPO="$REGION-docker.pkg.dev/$PROJECT/pingpipe"
WORKER="$REPO/beam-worker:$VERSION"
BASE="$REPO/pingpipe-dataflow:$VERSION"
LAUNCHER="$REPO/decoder-launcher:$VERSION"
TEMPLATE="gs://$BUCKET/templates/pingpipe-decoder-$VERSION.json"

"$ENGINE" build -f deploy/dataflow/Dockerfile -t "$WORKER" .
"$ENGINE" build -f deploy/Dockerfile --build-arg LOCK=requirements-dataflow.lock -t "$BASE" .
"$ENGINE" build -f deploy/dataflow/launcher.Dockerfile --build-arg PINGPIPE="$BASE" -t "$LAUNCHER" .
for image in "$WORKER" "$LAUNCHER"; do "$ENGINE" push "$image"; done

gcloud dataflow flex-template build "$TEMPLATE" --project "$PROJECT" \
  --image "$LAUNCHER" --sdk-language PYTHON --metadata-file deploy/dataflow/metadata.json

parameters="input=pubsub:projects/$PROJECT/subscriptions/$SUBSCRIPTION,output=bigquery:$PROJECT"
for pair in "$@"; do parameters="$parameters,$pair"; done
gcloud dataflow flex-template run "pingpipe-decoder-$(date -u +%Y%m%d-%H%M%S)" --project "$PROJECT" --region "$REGION" \
  --template-file-gcs-location "$TEMPLATE" \
  --additional-experiments use_runner_v2 --staging-location "gs://$BUCKET/staging" --temp-location "gs://$BUCKET/tmp" \
  --parameters "$parameters,sdk_container_image=$WORKER"
