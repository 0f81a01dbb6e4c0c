# Your configuration on top of the pingpipe image, for the daily CronJob (kubernetes/daily-cycle.yaml):
# a new one per schema, query or rule change, tagged CONFIG_VERSION. Build it from your folder holding
# schemas/ (the registry, MPS layout), sql/ (bigquery-etl's layout) and user_ids.yaml:
#   docker build -f deploy/config.Dockerfile --build-arg PINGPIPE=REGION-docker.pkg.dev/PROJECT/pingpipe/pingpipe@sha256:... \
#     -t REGION-docker.pkg.dev/PROJECT/pingpipe/pingpipe-config:CONFIG_VERSION YOUR_CONFIG_FOLDER
ARG PINGPIPE
FROM ${PINGPIPE}
COPY --chown=root:root schemas /config/schemas
COPY --chown=root:root sql /config/sql
COPY --chown=root:root user_ids.yaml /config/user_ids.yaml
