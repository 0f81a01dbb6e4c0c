# The Flex Template's launcher image: pingpipe's own image (deploy/Dockerfile, built with
# LOCK=requirements-dataflow.lock so it can submit to Dataflow, the workers' lock: one Beam on both
# sides) plus Google's template launcher, which runs main.py with the template's parameters.
# deploy/dataflow/build.sh builds both, once, and the worker image (Dockerfile).
ARG PINGPIPE=pingpipe-dataflow
ARG LAUNCHER=gcr.io/dataflow-templates-base/python311-template-launcher-base:latest
FROM ${LAUNCHER} AS launcher
FROM ${PINGPIPE}
COPY --from=launcher /opt/google/dataflow/python_template_launcher /opt/google/dataflow/python_template_launcher
COPY deploy/dataflow/geoip/ /opt/geoip/
COPY deploy/dataflow/main.py /template/main.py
ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/template/main.py
ENTRYPOINT ["/opt/google/dataflow/python_template_launcher"]
