#!/usr/bin/env bash
# Build a Dockerfile and run the resulting image WITHOUT a docker engine and
# WITHOUT registry access: buildah (chroot isolation) + podman (runc), on top
# of a Debian base image made locally with debootstrap from the apt mirror.
#
# Usage: ci-container-smoke.sh <context-dir> [container-port] [http-path]
# Env:   WORK=/tmp/ci-container   EXTRA_BUILD_ARGS="NAME=VALUE ..."   STORAGE_DRIVER=overlay|vfs   HOST_PORT=18080
#        IMAGE=localhost/app:ci   READY_TIMEOUT=120   PY_STANDIN=0|1
#        KEEP_RUNNING=0|1   CLEAN=0|1
#        PY_STANDIN=1: also build a Debian python3.11 stand-in tagged
#        python:3.11-slim (stored as localhost/python:3.11-slim) and build the
#        Dockerfile with no BASE_IMAGE override, so an unmodified
#        "FROM python:3.11-slim" resolves locally (--pull=never).
#        PY_STANDIN=0: --build-arg BASE_IMAGE=<local debian minbase image>.
# No host names are written anywhere: the mirror is read from apt's sources.
set -euo pipefail

CTX=$(cd "${1:?usage: $0 <context-dir> [port] [path]}" && pwd)
CPORT=${2:-8080}; HPATH=${3:-/}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-/tmp/ci-container}
DRIVER=${STORAGE_DRIVER:-overlay}
HOST_PORT=${HOST_PORT:-18080}
IMAGE=${IMAGE:-localhost/app:ci}
BASE=localhost/debian-bookworm-minbase:local
READY_TIMEOUT=${READY_TIMEOUT:-120}
NAME=ci-app-smoke
mkdir -p "$WORK"

now() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", (b-a)/1e9}'; }
T0=$(now)
step() { printf '\n=== %s (t=%ss)\n' "$1" "$(secs "$T0" "$(now)")"; }
timed() {  # timed LABEL cmd...  -- keeps the command's exit status
  local l=$1 s rc=0; shift; s=$(now)
  "$@" || rc=$?
  printf 'TIMING %-14s %6ss rc=%s\n' "$l" "$(secs "$s" "$(now)")" "$rc" | tee -a "$WORK/timings.txt"
  return $rc
}

# --- 0. tools (Debian packages only) ---------------------------------------
install_tools() {
  apt-get update -qq || return 1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    buildah podman runc debootstrap curl >/dev/null
}
step tools
if ! command -v buildah >/dev/null || ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
  timed apt-install install_tools
fi

# --- 1. private config (nothing in /etc is modified) -----------------------
# Storage under $WORK; overlay works as root here, vfs is the safe fallback.
cat > "$WORK/storage.conf" <<EOF
[storage]
driver = "$DRIVER"
graphroot = "$WORK/storage"
runroot = "$WORK/run"
EOF
# This host forbids raising rlimits; podman's root defaults (nofile=1048576,
# nproc=4194304) make runc fail with "error setting rlimit type 7/6".
NOFILE=$(ulimit -Hn); NPROC=$(ulimit -Hu); PIDMAX=$(cat /proc/sys/kernel/pid_max)
[ "$NPROC" = unlimited ] && NPROC=$PIDMAX; [ "$NPROC" -gt "$PIDMAX" ] && NPROC=$PIDMAX
cat > "$WORK/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$NOFILE:$NOFILE", "nproc=$NPROC:$NPROC"]
EOF
export CONTAINERS_STORAGE_CONF="$WORK/storage.conf" CONTAINERS_CONF="$WORK/containers.conf"
# Outbound TLS here is re-signed by a local CA: pip inside RUN steps must trust the host CA
# bundle. Mounted at build time only (not baked into any image layer).
printf '[global]\ncert = /etc/ci-host-ca.crt\n' > "$WORK/pip.conf"
BUILD_MOUNTS=(-v /etc/ssl/certs/ca-certificates.crt:/etc/ci-host-ca.crt:ro
              -v "$WORK/pip.conf:/etc/pip.conf:ro")

# --- 2. local base image ----------------------------------------------------
make_rootfs() {
  local mirror; mirror=$("$HERE/mirror.sh") || return 1
  rm -rf "$WORK/rootfs"
  debootstrap --variant=minbase bookworm "$WORK/rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log"; rm -rf "$WORK/rootfs"; return 1; }
  # same suites as the host (incl. security), copied, not written by hand
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    cp /etc/apt/sources.list.d/debian.sources "$WORK/rootfs/etc/apt/sources.list.d/"
    rm -f "$WORK/rootfs/etc/apt/sources.list"
  fi
  rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"*
}
import_rootfs() {
  tar -C "$WORK/rootfs" -c . | podman import -q \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' - "$BASE" >/dev/null
}
step base-image
if ! podman image exists "$BASE"; then
  [ -d "$WORK/rootfs/usr" ] || timed debootstrap make_rootfs
  timed import import_rootfs
fi
FROM_ARG=$BASE
if [ "${PY_STANDIN:-0}" = 1 ]; then
  step python-standin
  if ! podman image exists python:3.11-slim; then
    mkdir -p "$WORK/standin"
    cat > "$WORK/standin/Containerfile" <<'EOF2'
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
# Debian's python3.11 as a venv rooted at /usr/local, so python/pip and pip-
# installed entry points live in /usr/local/bin like the official image (no
# PEP 668 block). Python is Debian's 3.11.2, not the newest 3.11.x.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /usr/local \
 && /usr/local/bin/pip install --no-cache-dir -U pip setuptools wheel
ENV LANG=C.UTF-8
CMD ["python3"]
EOF2
    build_standin() {
      buildah build --isolation chroot --pull=never --layers --force-rm "${BUILD_MOUNTS[@]}" --build-arg BASE_IMAGE="$BASE" \
        -t python:3.11-slim "$WORK/standin" >"$WORK/standin.log" 2>&1
    }
    timed standin build_standin || { tail -40 "$WORK/standin.log"; exit 1; }
  fi
  FROM_ARG=  # let the Dockerfile's own "FROM python:3.11-slim" resolve to the stand-in
fi
BUILD_ARGS=(); [ -n "$FROM_ARG" ] && BUILD_ARGS=(--build-arg BASE_IMAGE="$FROM_ARG")
# EXTRA_BUILD_ARGS="BUNDLE=my_model:abc": more --build-arg values, space-separated
for arg in ${EXTRA_BUILD_ARGS:-}; do BUILD_ARGS+=(--build-arg "$arg"); done

# --- 3. build the project's Dockerfile ---------------------------------------
step build
build_app() {
  buildah build --isolation chroot --pull=never --layers --force-rm "${BUILD_MOUNTS[@]}" \
    "${BUILD_ARGS[@]}" -t "$IMAGE" -f "$CTX/Dockerfile" "$CTX" >"$WORK/build.log" 2>&1
}
timed build build_app || { tail -40 "$WORK/build.log"; exit 1; }
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | sed 's/^/  image /'
podman image inspect --format '{{.Size}}' "$IMAGE" > "$WORK/image-size-bytes"

# --- 4. run it and probe over HTTP -------------------------------------------
step run
podman rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
trap 'rc=$?; [ $rc = 0 ] || podman logs "$NAME" 2>&1 | tail -30; [ "${KEEP_RUNNING:-0}" = 1 ] || podman rm -f -t 0 "$NAME" >/dev/null 2>&1 || true; exit $rc' EXIT
probe() {
  podman run -d --name "$NAME" -p "127.0.0.1:$HOST_PORT:$CPORT" "$IMAGE" >/dev/null || return 1
  local deadline=$(( $(date +%s) + READY_TIMEOUT ))
  until curl -sf -m 3 "http://127.0.0.1:$HOST_PORT$HPATH" -o "$WORK/response"; do
    [ "$(podman inspect -f '{{.State.Running}}' "$NAME")" = true ] || { echo "container exited"; return 1; }
    [ "$(date +%s)" -lt "$deadline" ] || { echo "not ready after ${READY_TIMEOUT}s"; return 1; }
    sleep 0.5
  done
}
timed run+ready probe
echo "  response: $(head -c 300 "$WORK/response")"
step done
du -sh "$WORK/storage" 2>/dev/null | sed 's/^/  storage /'
# --- 5. optional teardown ------------------------------------------------------
if [ "${CLEAN:-0}" = 1 ]; then
  step clean
  trap - EXIT
  podman rm -a -f -t 0 >/dev/null 2>&1 || true
  buildah rm -a >/dev/null 2>&1 || true
  podman system reset -f >/dev/null 2>&1 || true
  umount "$WORK/storage/overlay" 2>/dev/null || true
  rm -rf "$WORK/storage" "$WORK/run"
fi
