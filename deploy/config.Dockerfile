# Your configuration on top of the pingpipe image, for the daily CronJob (kubernetes/daily-cycle.yaml):
# a new one per schema, query or rule change, tagged CONFIG_VERSION. Build it from your folder holding
# schemas/ (the registry, MPS layout), sql/ (bigquery-etl's layout) and user_ids.yaml:
#   docker build -f deploy/config.Dockerfile --build-arg PINGPIPE=REGION-docker.pkg.dev/PROJECT/pingpipe/pingpipe@sha256:... \
#     -t REGION-docker.pkg.dev/PROJECT/pingpipe/pingpipe-config:CONFIG_VERSION YOUR_CONFIG_FOLDER
ARG PINGPIPE
FROM ${PINGPIPE}
COPY schemas /config/schemas
COPY sql /config/sql
COPY user_ids.yaml /config/user_ids.yaml
# readable by the image's user whatever the folder's modes were (a private umask), and its alone to change
USER root
RUN chown -R root:root /config && chmod -R u=rwX,go=rX /config
USER pingpipe
