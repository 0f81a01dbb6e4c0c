# The Flex Template's launcher image: pingpipe's own image (deploy/Dockerfile, built with
# LOCK=requirements-dataflow.lock so it can submit to Dataflow) plus Google's template launcher, which runs
# main.py with the template's parameters. Build from the repository root, after the first:
#   docker build -f deploy/Dockerfile --build-arg LOCK=requirements-dataflow.lock -t REGION-docker.pkg.dev/P/pingpipe/pingpipe-dataflow:V .
#   docker build -f deploy/dataflow/launcher.Dockerfile --build-arg PINGPIPE=REGION-docker.pkg.dev/P/pingpipe/pingpipe-dataflow:V \
#     -t REGION-docker.pkg.dev/P/pingpipe/decoder-launcher:V .
# (deploy/dataflow/launch.sh does both.) Keep the Beam version equal to the workers' (Dockerfile).
ARG PINGPIPE=pingpipe-dataflow
ARG LAUNCHER=gcr.io/dataflow-templates-base/python311-template-launcher-base:latest
FROM ${LAUNCHER} AS launcher
FROM ${PINGPIPE}
COPY --from=launcher /opt/google/dataflow/python_template_launcher /opt/google/dataflow/python_template_launcher
COPY deploy/dataflow/geoip/ /opt/geoip/
COPY deploy/dataflow/main.py /template/main.py
ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/template/main.py
ENTRYPOINT ["/opt/google/dataflow/python_template_launcher"]
