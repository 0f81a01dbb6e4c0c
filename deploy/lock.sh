#!/usr/bin/env bash
# The container image's exact dependencies, with their hashes: deploy/requirements.lock (the image) and
# deploy/requirements-dataflow.lock (the Flex Template's launcher, with the dataflow extra), resolved from
# pyproject.toml by pip-tools for the image's Python (3.11, Linux); and deploy/requirements-build.lock,
# the uv that installs them (deploy/build-requirements.in). Run it after changing a dependency:
#
#   deploy/lock.sh            (from anywhere; needs pip-tools: pip install pip-tools)
#
# pip-tools, because it reads pyproject.toml as it is and writes a plain requirements file with hashes
# that any installer checks with --require-hashes: the image's pip installs uv's, and uv the others.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP_COMPILE=${PIP_COMPILE:-$(command -v pip-compile || echo .venv/bin/pip-compile)}
"$PIP_COMPILE" --quiet --generate-hashes --strip-extras --no-header --allow-unsafe --no-emit-index-url --no-emit-find-links \
  --output-file deploy/requirements.lock pyproject.toml
"$PIP_COMPILE" --quiet --generate-hashes --strip-extras --no-header --allow-unsafe --no-emit-index-url --no-emit-find-links --extra dataflow \
  --output-file deploy/requirements-dataflow.lock pyproject.toml
"$PIP_COMPILE" --quiet --generate-hashes --strip-extras --no-header --allow-unsafe --no-emit-index-url --no-emit-find-links \
  --output-file deploy/requirements-build.lock deploy/build-requirements.in
# The Dataflow workers' Beam is the launcher's: their image starts from Beam's SDK image of that version.
beam=$(sed -n 's/^apache-beam==\([^ ]*\) .*/\1/p' deploy/requirements-dataflow.lock)
sed -i "s/^ARG BEAM_VERSION=.*/ARG BEAM_VERSION=$beam/" deploy/dataflow/Dockerfile
# A release's pinned Beam base is of that version too: another version is unpinned, to be pinned again.
grep -Eq "^BEAM_BASE=apache/beam_python3\.11_sdk:${beam//./\\.}(@|$)" deploy/bases.env ||
  sed -i "s|^BEAM_BASE=.*|BEAM_BASE=apache/beam_python3.11_sdk:$beam|" deploy/bases.env
