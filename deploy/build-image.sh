#!/usr/bin/env bash
# Build deploy/Dockerfile with podman where no registry image can be pulled: the base image is made
# from Debian's packages (debootstrap: Python 3.11 and its venv module), then imported.
#
#   deploy/build-image.sh [TAG]        (from the repository root, as root; TAG: localhost/pingpipe:dev)
#
# What this sandbox needed, kept here because other locked-down machines need it too:
# - runc, not crun: crun refuses the host's hybrid cgroup v1 layout;
# - explicit --ulimit values: the container runtime may not raise limits (no CAP_SYS_RESOURCE);
# - the host's CA bundle mounted for the build: pip inside must trust what the host trusts (an
#   egress proxy's certificate, here).
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${1:-localhost/pingpipe:dev}
BASE=${BASE:-localhost/pingpipe-base:bookworm}
WORK=${WORK:-$(mktemp -d)}
CA=${CA:-/etc/ssl/certs/ca-certificates.crt}
PODMAN=(podman --runtime "$(command -v runc)")
LIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=4096:4096)

if ! "${PODMAN[@]}" image exists "$BASE"; then
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$WORK/rootfs" \
    http://deb.debian.org/debian > "$WORK/debootstrap.log"
  tar -C "$WORK/rootfs" -c . | "${PODMAN[@]}" import - "$BASE" > /dev/null
  rm -rf "$WORK/rootfs"
fi
"${PODMAN[@]}" build "${LIMITS[@]}" --network host --volume "$CA:/etc/ssl/certs/ca-certificates.crt:ro" \
  --build-arg "BASE=$BASE" -f deploy/Dockerfile -t "$TAG" . > "$WORK/build.log"
echo "$TAG"
