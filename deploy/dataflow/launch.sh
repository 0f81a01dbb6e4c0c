#!/usr/bin/env bash
# Start the streaming decoder from a release that deploy/dataflow/build.sh built (it builds nothing):
#   deploy/dataflow/launch.sh RELEASE_FILE SUBSCRIPTION [PARAM=VALUE ...]
# e.g. deploy/dataflow/launch.sh dataflow-release-1.0.env raw-decoder geoip_db=/opt/geoip/GeoIP2-City.mmdb
# Run with gcloud logged in to the release's project. Extra PARAM=VALUE pairs are the template's
# parameters (deploy/dataflow/metadata.json). The workers run the release's image, by digest.
set -euo pipefail

if [ "$#" -lt 2 ]; then
  sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
# shellcheck source=/dev/null
source "$1"
SUBSCRIPTION=$2
shift 2

parameters="input=pubsub:projects/$PROJECT/subscriptions/$SUBSCRIPTION,output=bigquery:$PROJECT"
for pair in "$@"; do parameters="$parameters,$pair"; done
gcloud dataflow flex-template run "pingpipe-decoder-$(date -u +%Y%m%d-%H%M%S)" --project "$PROJECT" --region "$REGION" \
  --template-file-gcs-location "$TEMPLATE" \
  --additional-experiments use_runner_v2 --staging-location "gs://$BUCKET/staging" --temp-location "gs://$BUCKET/tmp" \
  --parameters "$parameters,sdk_container_image=$WORKER"
