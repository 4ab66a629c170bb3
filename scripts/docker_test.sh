#!/usr/bin/env bash
# Build deployment/Dockerfile and run the image, with no Docker engine and no registry.
#
#   1. Bootstrap a Debian bookworm root file system with python3 (mmdebstrap) and import it as
#      the base image (cached: the tarball in the cache folder, the image in buildah's store).
#   2. Build the service image on it with buildah (chroot isolation, cached layers).
#   3. Run the image's own ENTRYPOINT + CMD on the host's network with a freshly trained model
#      bundle mounted at /models/bundle; check /health, the image's HEALTHCHECK command, /predict
#      with the API's example record (same probability as the model in-process), /metrics and
#      the non-root user; print the image size and fail over DOCKER_TEST_MAX_MB.
#   4. Stop the server, remove the working containers and the bundle; images stay as the cache.
#
# Usage: scripts/docker_test.sh [--clean]   (--clean: delete the cache folder and stop)
# Needs root, buildah and mmdebstrap (apt-get install buildah mmdebstrap), and the project's .venv
# (make install) to train the bundle. Idempotent: a second run reuses what the first cached.
# Settings: DOCKER_TEST_CACHE (cache folder), DOCKER_TEST_MIRROR (Debian mirror),
# DOCKER_TEST_MAX_MB (600), DOCKER_TEST_STORAGE_DRIVER (overlay when the kernel has it, else vfs),
# DOCKER_TEST_REFRESH_BASE=1 (bootstrap the base again), PYTHON (the project's interpreter).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$PWD"
START=$SECONDS

CACHE_DIR="${DOCKER_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/churnguard}"
MIRROR="${DOCKER_TEST_MIRROR:-http://deb.debian.org/debian}"
MAX_MB="${DOCKER_TEST_MAX_MB:-600}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
IMAGE="localhost/churnguard-api:test"
BUILD_STAGE_IMAGE="localhost/churnguard-api:build-stage"
BASE_IMAGE="localhost/churnguard-base:bookworm"
CONTAINER="churnguard-docker-test"
# A free port: the container shares the host's network; the image reads CHURNGUARD_SERVING_PORT.
PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# minbase (as debian:bookworm-slim: apt, no perl) plus Debian's CPython 3.11; python3-venv
# bootstraps the build stage's uv. Changing the list changes the cached tarball's name.
BASE_VARIANT="minbase"
BASE_PACKAGES="python3,python3-venv,ca-certificates"

log() { printf 'docker-test: %s\n' "$*"; }
die() {
  printf 'docker-test: FAILED: %s\n' "$*" >&2
  exit 1
}

if [ "${1:-}" = "--clean" ]; then
  rm -rf "$CACHE_DIR"
  log "removed $CACHE_DIR"
  exit 0
fi
for tool in buildah mmdebstrap; do
  command -v "$tool" > /dev/null || die "$tool is missing: apt-get install -y buildah mmdebstrap"
done
[ "$(id -u)" -eq 0 ] || die "run as root (buildah's chroot isolation and mmdebstrap need it)"
[ -x "$PYTHON" ] || die "$PYTHON not found: run make install first (it trains the model bundle)"

mkdir -p "$CACHE_DIR"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/churnguard-docker-test.XXXXXX")"

# Kernel overlayfs makes builds several times faster than vfs (which copies every layer whole).
driver="${DOCKER_TEST_STORAGE_DRIVER:-}"
if [ -z "$driver" ]; then
  probe="$CACHE_DIR/overlay-probe"
  mkdir -p "$probe/lower" "$probe/upper" "$probe/work" "$probe/merged"
  if mount -t overlay overlay -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" \
    "$probe/merged" 2> /dev/null; then
    umount "$probe/merged"
    driver=overlay
  else
    driver=vfs
  fi
  rm -rf "$probe"
fi
# A store of this script's own: nothing else's containers or images are touched.
STORAGE=(--root "$CACHE_DIR/containers/$driver" --runroot "${XDG_RUNTIME_DIR:-/run}/churnguard-buildah" --storage-driver "$driver")
bh() { buildah "${STORAGE[@]}" "$@"; }
export BUILDAH_ISOLATION=chroot

SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2> /dev/null; then
    kill -TERM -- "-$SERVER_PID" 2> /dev/null || true
    for _ in $(seq 1 30); do
      kill -0 "$SERVER_PID" 2> /dev/null || break
      sleep 0.5
    done
    kill -KILL -- "-$SERVER_PID" 2> /dev/null || true
    wait "$SERVER_PID" 2> /dev/null || true
  fi
  bh rm --all > /dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
# A run killed earlier may have left its containers behind.
bh rm --all > /dev/null 2>&1 || true

# --- 1. base image ------------------------------------------------------------------------------
packages_key="$(printf '%s %s' "$BASE_VARIANT" "$BASE_PACKAGES" | sha256sum | cut -c1-12)"
TARBALL="$CACHE_DIR/bookworm-$packages_key.tar"
if [ ! -s "$TARBALL" ] || [ "${DOCKER_TEST_REFRESH_BASE:-0}" = 1 ]; then
  log "bootstrapping Debian bookworm ($BASE_VARIANT + $BASE_PACKAGES) with mmdebstrap"
  t0=$SECONDS
  mmdebstrap --variant="$BASE_VARIANT" --include="$BASE_PACKAGES" \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    bookworm "$WORK/base.tar" \
    "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" \
    "deb ${MIRROR%/debian}/debian-security bookworm-security main" > "$WORK/mmdebstrap.log" 2>&1 || {
    tail -n 40 "$WORK/mmdebstrap.log" >&2
    die "mmdebstrap could not bootstrap the base root file system"
  }
  mv "$WORK/base.tar" "$TARBALL"
  log "base root file system: $((SECONDS - t0)) s, $(du -m "$TARBALL" | cut -f1) MB"
fi
tarball_sum="$(sha256sum "$TARBALL" | cut -c1-16)"
imported_sum="$(bh inspect --type image --format '{{index .Docker.Config.Labels "churnguard.base-rootfs"}}' \
  "$BASE_IMAGE" 2> /dev/null || true)"
if [ "$imported_sum" != "$tarball_sum" ]; then
  log "importing the base root file system as $BASE_IMAGE ($driver storage)"
  base="$(bh from scratch)"
  bh add "$base" "$TARBALL" / > /dev/null
  bh config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 --label "churnguard.base-rootfs=$tarball_sum" --cmd python3 "$base"
  bh commit --quiet --rm --format docker "$base" "$BASE_IMAGE" > /dev/null
fi

# --- 2. build -----------------------------------------------------------------------------------
# The host's CA bundle goes in as a build secret (no layer keeps it), for networks whose TLS
# passes through an inspecting proxy.
ca_bundle="${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}"
secret=()
[ -s "$ca_bundle" ] && secret=(--secret "id=ca-bundle,src=$ca_bundle")
build() {
  # --format docker: the OCI format has no HEALTHCHECK.
  bh bud --layers --force-rm --format docker --network host --pull=never \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" "${secret[@]}" -f deployment/Dockerfile "$@" . \
    >> "$WORK/build.log" 2>&1 || {
    tail -n 40 "$WORK/build.log" >&2
    die "the image build failed"
  }
}
log "building $IMAGE from deployment/Dockerfile (BASE_IMAGE=$BASE_IMAGE, $driver storage)"
t0=$SECONDS
# The build stage has a tag of its own, so that pruning keeps its layers as the cache.
build --target build -t "$BUILD_STAGE_IMAGE"
build -t "$IMAGE"
BUILD_SECONDS=$((SECONDS - t0))
# Drop what earlier builds left that no tagged image uses any more.
bh rmi --prune > /dev/null 2>&1 || true
# Uncompressed, as `docker images` shows it; buildah prints SI units ("812 MB", "1.02 GB").
SIZE_MB="$(bh images --json "$IMAGE" | "$PYTHON" -c '
import json, sys
number, unit = json.load(sys.stdin)[0]["size"].split()
print(round(float(number) * {"kB": 1e-3, "MB": 1, "GB": 1e3}[unit]))')"
log "build: ${BUILD_SECONDS} s; image size: ${SIZE_MB} MB uncompressed (limit ${MAX_MB} MB)"

# --- 3. run the image's own command -------------------------------------------------------------
if "$PYTHON" -c "import socket, sys; sys.exit(socket.socket().connect_ex(('127.0.0.1', $PORT)) != 0)"; then
  die "port $PORT is in use on this host; the container shares the host's network: free it first"
fi
mkdir -p "$WORK/models"
# A small bundle trained as the API tests train theirs, and the probability the model itself
# gives the example record (the served one must match it).
EXPECTED="$("$PYTHON" - "$WORK/models/bundle" 2> "$WORK/bundle.log" << 'EOF'
import sys
from pathlib import Path

from churnguard.api.schemas import EXAMPLE_CUSTOMER, CustomerRecord
from churnguard.api.state import records_frame
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
frame = records_frame([CustomerRecord.model_validate(EXAMPLE_CUSTOMER)])
print(repr(float(model.predict_proba(frame[list(FEATURE_COLUMNS)])[:, 1][0])))
EOF
)" || {
  tail -n 40 "$WORK/bundle.log" >&2
  die "could not train the model bundle with $PYTHON"
}
EXPECTED="$(printf '%s\n' "$EXPECTED" | tail -n 1)"
chmod -R a+rX "$WORK/models"

bh from --quiet --pull=never --name "$CONTAINER" "$IMAGE" > /dev/null
bh inspect --type image "$IMAGE" > "$WORK/image.json"
# ENTRYPOINT + CMD, or the HEALTHCHECK's command (exec form: ["CMD", program, args...]).
image_config() {
  "$PYTHON" -c 'import json, sys
config = json.load(open(sys.argv[1]))["Docker"]["config"]
if sys.argv[2] == "command":
    print("\n".join((config.get("Entrypoint") or []) + (config.get("Cmd") or [])))
elif sys.argv[2] == "healthcheck":
    print("\n".join((config.get("Healthcheck") or {}).get("Test", [])[1:]))
else:
    print(config.get("User") or "")' "$WORK/image.json" "$1"
}
mapfile -t COMMAND < <(image_config command)
mapfile -t HEALTHCHECK < <(image_config healthcheck)
[ "${#COMMAND[@]}" -gt 0 ] || die "the image has neither ENTRYPOINT nor CMD"
[ "${#HEALTHCHECK[@]}" -gt 0 ] || die "the image has no HEALTHCHECK"
case "$(image_config user)" in
  "" | 0 | 0:* | root | root:*) die "the image runs as root (USER: '$(image_config user)')" ;;
esac

log "running the image's command: ${COMMAND[*]}"
# setsid: the server gets a process group of its own, which cleanup stops as a whole.
setsid buildah "${STORAGE[@]}" run --isolation chroot --network host \
  --env "CHURNGUARD_SERVING_PORT=$PORT" --volume "$WORK/models/bundle:/models/bundle:ro" "$CONTAINER" -- "${COMMAND[@]}" \
  > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
server_failed() {
  tail -n 40 "$WORK/server.log" >&2
  die "$1"
}

t0=$SECONDS
until "$PYTHON" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/health', timeout=2)" 2> /dev/null; do
  kill -0 "$SERVER_PID" 2> /dev/null || server_failed "the server exited before /health answered"
  [ $((SECONDS - t0)) -lt 120 ] || server_failed "/health did not answer within 120 s"
  sleep 1
done
log "healthy $((SECONDS - t0)) s after start"

bh run --isolation chroot --network host --env "CHURNGUARD_SERVING_PORT=$PORT" "$CONTAINER" -- "${HEALTHCHECK[@]}" ||
  server_failed "the image's HEALTHCHECK command failed against the running server"
log "the image's HEALTHCHECK command passes"
uid="$(bh run --isolation chroot "$CONTAINER" -- id -u)"
[ "$uid" != 0 ] || die "the container's processes run as root"
# The feedback store, created at startup, must be writable by that user.
bh run --isolation chroot "$CONTAINER" -- test -s /var/lib/churnguard/serving.db ||
  server_failed "the feedback store was not created at /var/lib/churnguard/serving.db"

"$PYTHON" - "http://127.0.0.1:$PORT" "$EXPECTED" << 'EOF' || server_failed "the API checks failed"
"""The served API: health, the example customer's prediction (as the model gives it), metrics."""

import json
import math
import sys
import urllib.request

from churnguard.api.schemas import EXAMPLE_CUSTOMER

base, expected = sys.argv[1], float(sys.argv[2])
with urllib.request.urlopen(f"{base}/health", timeout=10) as response:
    health = json.load(response)
if health.get("status") != "ok":
    sys.exit(f"/health answered {health}")
request = urllib.request.Request(
    f"{base}/predict",
    data=json.dumps(EXAMPLE_CUSTOMER).encode(),
    headers={"Content-Type": "application/json"},
    method="POST",
)
with urllib.request.urlopen(request, timeout=30) as response:
    prediction = json.load(response)
probability = prediction["churn_probability"]
if not math.isclose(probability, expected, rel_tol=0, abs_tol=1e-9):
    sys.exit(f"/predict gave churn_probability={probability}, the model in-process {expected}")
with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
    metrics = response.read().decode()
if "# TYPE" not in metrics:
    sys.exit("/metrics has no Prometheus metrics")
print(f"docker-test: /predict {EXAMPLE_CUSTOMER['customerID']}: churn_probability={probability:.6f}")
EOF

[ "$SIZE_MB" -le "$MAX_MB" ] || die "the image is ${SIZE_MB} MB, over the ${MAX_MB} MB limit"
log "OK: image ${SIZE_MB} MB, build ${BUILD_SECONDS} s, whole run $((SECONDS - START)) s"
