#!/usr/bin/env bash
# Build deployment/Dockerfile and run the image, with no Docker engine and no registry.
#
#   1. Bootstrap a Debian bookworm root file system with python3 (mmdebstrap) and import it as the
#      base image (cached: the tarball in $DOCKER_TEST_CACHE, the image in buildah's store).
#   2. Build the service image on it with buildah (vfs storage, chroot isolation, cached layers).
#   3. Run the image's own ENTRYPOINT + CMD (host network) with a freshly trained model bundle
#      mounted at /models/bundle; check /health, the image's HEALTHCHECK command, /predict with
#      the API's example record, and /metrics; report the image size (limit: DOCKER_TEST_MAX_MB).
#   4. Stop the server and remove the working container and the bundle; images stay as a cache.
#
# Needs root, buildah and mmdebstrap (apt-get install buildah mmdebstrap) and the project's .venv
# (make install) to make the bundle. Idempotent: run it again and it reuses what is cached.
# Variables: DOCKER_TEST_CACHE, DOCKER_TEST_MIRROR, DOCKER_TEST_MAX_MB, DOCKER_TEST_REFRESH_BASE=1.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$PWD"
START=$SECONDS

CACHE_DIR="${DOCKER_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/churnguard}"
MIRROR="${DOCKER_TEST_MIRROR:-http://deb.debian.org/debian}"
MAX_MB="${DOCKER_TEST_MAX_MB:-600}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
IMAGE="localhost/churnguard-api:test"
BASE_IMAGE="localhost/churnguard-base:bookworm"
CONTAINER="churnguard-docker-test"
PORT=8000 # fixed by the image's CMD and HEALTHCHECK; the container shares the host's network
# minbase (like debian:bookworm-slim, with apt) plus Debian's CPython 3.11; python3-venv builds
# the build stage's uv. Changing the list changes the cached tarball's name.
BASE_VARIANT="minbase"
BASE_PACKAGES="python3,python3-venv,ca-certificates"

log() { printf 'docker-test: %s\n' "$*"; }
die() {
  printf 'docker-test: FAILED: %s\n' "$*" >&2
  exit 1
}

for tool in buildah mmdebstrap; do
  command -v "$tool" > /dev/null || die "$tool is missing: apt-get install -y buildah mmdebstrap"
done
[ "$(id -u)" -eq 0 ] || die "run as root (buildah with vfs storage and chroot isolation, mmdebstrap)"
[ -x "$PYTHON" ] || die "$PYTHON not found: run make install first (it makes the model bundle)"

mkdir -p "$CACHE_DIR"
STORAGE=(--root "$CACHE_DIR/containers/storage" --runroot "${XDG_RUNTIME_DIR:-/tmp}/churnguard-buildah"
  --storage-driver vfs)
bh() { buildah "${STORAGE[@]}" "$@"; }
export BUILDAH_ISOLATION=chroot

WORK="$(mktemp -d "${TMPDIR:-/tmp}/churnguard-docker-test.XXXXXX")"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2> /dev/null; then
    kill -TERM -- "-$SERVER_PID" 2> /dev/null || true
    for _ in $(seq 1 20); do
      kill -0 "$SERVER_PID" 2> /dev/null || break
      sleep 0.5
    done
    kill -KILL -- "-$SERVER_PID" 2> /dev/null || true
    wait "$SERVER_PID" 2> /dev/null || true
  fi
  bh rm "$CONTAINER" > /dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- 1. base image ------------------------------------------------------------------------------
packages_key="$(printf '%s %s' "$BASE_VARIANT" "$BASE_PACKAGES" | sha256sum | cut -c1-12)"
TARBALL="$CACHE_DIR/bookworm-$packages_key.tar"
if [ ! -s "$TARBALL" ] || [ "${DOCKER_TEST_REFRESH_BASE:-0}" = 1 ]; then
  log "bootstrapping Debian bookworm ($BASE_PACKAGES) with mmdebstrap"
  t0=$SECONDS
  mmdebstrap --quiet --variant="$BASE_VARIANT" --include="$BASE_PACKAGES" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    bookworm "$WORK/base.tar" \
    "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" \
    "deb ${MIRROR%/debian}/debian-security bookworm-security main"
  mv "$WORK/base.tar" "$TARBALL"
  log "base root file system: $((SECONDS - t0)) s, $(du -m "$TARBALL" | cut -f1) MB"
fi
tarball_sum="$(sha256sum "$TARBALL" | cut -c1-16)"
imported_sum="$(bh inspect --type image --format '{{index .Docker.Config.Labels "churnguard.rootfs"}}' \
  "$BASE_IMAGE" 2> /dev/null || true)"
if [ "$imported_sum" != "$tarball_sum" ]; then
  log "importing the base root file system as $BASE_IMAGE"
  base="$(bh from scratch)"
  bh add "$base" "$TARBALL" / > /dev/null
  bh config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 --label "churnguard.rootfs=$tarball_sum" --cmd python3 "$base"
  bh commit --quiet --rm --format docker "$base" "$BASE_IMAGE" > /dev/null
fi

# --- 2. build -----------------------------------------------------------------------------------
ca_bundle="${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}"
secret=()
# The host's CA bundle, for a network behind a TLS-inspecting proxy (a build secret: no layer
# keeps it).
[ -s "$ca_bundle" ] && secret=(--secret "id=ca-bundle,src=$ca_bundle")
log "building $IMAGE from deployment/Dockerfile (BASE_IMAGE=$BASE_IMAGE)"
t0=$SECONDS
bh bud --quiet --layers --format docker --network host --pull=never \
  --build-arg "BASE_IMAGE=$BASE_IMAGE" "${secret[@]}" \
  -f deployment/Dockerfile -t "$IMAGE" . > "$WORK/build.log" 2>&1 || {
  tail -n 40 "$WORK/build.log" >&2
  die "image build failed"
}
BUILD_SECONDS=$((SECONDS - t0))
# Drop the layers of earlier builds that the new image no longer uses (the cache stays valid).
bh rmi --prune > /dev/null 2>&1 || true
size_bytes="$(bh images --json "$IMAGE" | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)[0]["size"])')"
SIZE_MB=$((size_bytes / 1000000))
log "build: ${BUILD_SECONDS} s; image size: ${SIZE_MB} MB (limit ${MAX_MB} MB)"

# --- 3. run the image's own command -------------------------------------------------------------
if "$PYTHON" -c "import socket, sys; s = socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $PORT)) != 0)"; then
  die "port $PORT is in use on this host; the container shares the host's network, free it first"
fi
mkdir -p "$WORK/bundle-parent"
"$PYTHON" - "$WORK/bundle-parent/bundle" << 'EOF'
"""A small trained model bundle, made as the API tests make theirs."""

import sys
from pathlib import Path

from churnguard.config import load_config
from churnguard.data.preprocess import preprocess_data
from churnguard.data.schema import FEATURE_COLUMNS
from churnguard.data.synthetic import generate_customers
from churnguard.models.estimators import build_model_pipeline
from churnguard.models.tracking import save_bundle

config = load_config(Path("configs/config.yaml"), use_env=False)
splits = preprocess_data(generate_customers(1500, seed=41))
model = build_model_pipeline(config.features, config.model, {"lightgbm__n_estimators": 40})
model.fit(splits.train, splits.train["Churn"])
metadata = {"threshold": 0.4, "estimator": "blend", "calibration": "none", "data_sha256": "ab" * 32}
save_bundle(model, splits.train[list(FEATURE_COLUMNS)], metadata, Path(sys.argv[1]))
EOF
chmod -R a+rX "$WORK/bundle-parent"

bh rm "$CONTAINER" > /dev/null 2>&1 || true
bh from --quiet --pull=never --name "$CONTAINER" "$IMAGE" > /dev/null
command_json="$(bh inspect --type image --format '{{json .Docker.Config.Entrypoint}}{{"\n"}}{{json .Docker.Config.Cmd}}{{"\n"}}{{json .Docker.Config.Healthcheck}}' "$IMAGE")"
mapfile -t COMMAND < <(printf '%s\n' "$command_json" | sed -n 1,2p |
  "$PYTHON" -c 'import json, sys; print("\n".join(a for line in sys.stdin for a in (json.loads(line) or [])))')
mapfile -t HEALTHCHECK < <(printf '%s\n' "$command_json" | sed -n 3p |
  "$PYTHON" -c 'import json, sys; print("\n".join((json.load(sys.stdin) or {}).get("Test", [])[1:]))')
[ "${#COMMAND[@]}" -gt 0 ] || die "the image has neither ENTRYPOINT nor CMD"
[ "${#HEALTHCHECK[@]}" -gt 0 ] || die "the image has no HEALTHCHECK (was it built with --format docker?)"
log "running the image's command: ${COMMAND[*]}"
setsid buildah "${STORAGE[@]}" run --isolation chroot --network host \
  --volume "$WORK/bundle-parent/bundle:/models/bundle:ro" "$CONTAINER" -- "${COMMAND[@]}" \
  > "$WORK/server.log" 2>&1 &
SERVER_PID=$!

t0=$SECONDS
until "$PYTHON" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/health', timeout=2)" 2> /dev/null; do
  if ! kill -0 "$SERVER_PID" 2> /dev/null; then
    tail -n 40 "$WORK/server.log" >&2
    die "the server exited before /health answered"
  fi
  [ $((SECONDS - t0)) -lt 120 ] || {
    tail -n 40 "$WORK/server.log" >&2
    die "/health did not answer within 120 s"
  }
  sleep 1
done
log "healthy after $((SECONDS - t0)) s"

bh run --isolation chroot --network host "$CONTAINER" -- "${HEALTHCHECK[@]}" ||
  die "the image's HEALTHCHECK command failed against the running server"
log "HEALTHCHECK command passed: ${HEALTHCHECK[*]}"

"$PYTHON" - "http://127.0.0.1:$PORT" << 'EOF' || die "API checks failed (server log: see above)"
"""Check the served API: health, a prediction for the example customer, and metrics."""

import json
import sys
import urllib.request

from churnguard.api.schemas import EXAMPLE_CUSTOMER

base = sys.argv[1]
with urllib.request.urlopen(f"{base}/health", timeout=10) as response:
    health = json.load(response)
assert health["status"] == "ok", health
request = urllib.request.Request(
    f"{base}/predict",
    data=json.dumps(EXAMPLE_CUSTOMER).encode(),
    headers={"Content-Type": "application/json"},
    method="POST",
)
with urllib.request.urlopen(request, timeout=30) as response:
    prediction = json.load(response)
probability = prediction["churn_probability"]
assert 0.0 <= probability <= 1.0, prediction
with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
    assert response.status == 200
print(f"docker-test: /predict for {EXAMPLE_CUSTOMER['customerID']}: churn_probability={probability:.3f}")
EOF

user="$(bh run --isolation chroot "$CONTAINER" -- id -u)"
[ "$user" != 0 ] || die "the image runs as root"

if [ "$SIZE_MB" -gt "$MAX_MB" ]; then
  die "image is ${SIZE_MB} MB, over the ${MAX_MB} MB limit"
fi
log "OK: image ${SIZE_MB} MB, build ${BUILD_SECONDS} s, total $((SECONDS - START)) s"
