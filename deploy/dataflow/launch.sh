#!/usr/bin/env bash
# Start the streaming decoder from a release that deploy/dataflow/build.sh built (it builds nothing):
#   deploy/dataflow/launch.sh RELEASE_FILE SUBSCRIPTION [--update] [PARAM=VALUE ...]
# e.g. deploy/dataflow/launch.sh dataflow-release-1.0.env raw-decoder geoip_db=/opt/geoip/GeoIP2-City.mmdb
# Run with gcloud logged in to the release's project, and BIGQUERY_LOCATION set (where the job makes
# its datasets: US, EU or a region). The job is named for its subscription, so a
# second one on it is refused while the first runs; --update replaces the running one in place.
# Extra PARAM=VALUE pairs are the template's parameters (deploy/dataflow/metadata.json).
set -euo pipefail

if [ "$#" -lt 2 ]; then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
# shellcheck source=/dev/null
source "$1"
SUBSCRIPTION=$2
shift 2

update=()
if [ "${1:-}" = --update ]; then update=(--update); shift; fi
: "${BIGQUERY_LOCATION:?set BIGQUERY_LOCATION to where the job makes its datasets (US, EU or a region): they never move}"
parameters="input=pubsub:projects/$PROJECT/subscriptions/$SUBSCRIPTION,output=bigquery:$PROJECT,bigquery_location=$BIGQUERY_LOCATION"
case " $* " in
  *" forwarded_hops="*) ;;
  *) parameters="$parameters,forwarded_hops=2" ;;  # the Gateway's load balancer appends "<client>, <itself>"
esac
case " $* " in
  *" dead_letter="*) ;;
  *) parameters="$parameters,dead_letter=gs://$BUCKET/dead-letter" ;;  # error rows the error table refuses
esac
for pair in "$@"; do parameters="$parameters,$pair"; done
job="pingpipe-decoder-$(printf '%s' "$SUBSCRIPTION" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9\n' '-')"
gcloud dataflow flex-template run "$job" "${update[@]}" --project "$PROJECT" --region "$REGION" \
  --template-file-gcs-location "$TEMPLATE" \
  --additional-experiments use_runner_v2 --staging-location "gs://$BUCKET/staging" --temp-location "gs://$BUCKET/tmp" \
  --parameters "$parameters,sdk_container_image=$WORKER"
