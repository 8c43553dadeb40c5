#!/usr/bin/env bash
# The whole check, as CI runs it (`make test` calls this; .ci/run calls `make test`).
#
#   1. Debian's chromium (browser tests), gettext (catalogue check) and the Chinese PDF font, installed with apt when missing
#   2. static checks: ruff (lint and format), mypy, makemigrations --check
#   3. the whole pytest suite on a throwaway PostgreSQL 15 server
#   4. the whole suite again on SQLite (the embedded default), less the browser tests and
#      the PostgreSQL-only checks (markers `browser`, `postgresql`; deselected, not skipped)
#
# Every step runs even when an earlier one failed, so one run shows every problem;
# the script exits non-zero when any step failed. pytest's exit code 5 (no tests
# collected) counts as a failure. Extra arguments go to both pytest runs.
#
# Environment: VENV (default .venv), SKIP_PG=1 / SKIP_SQLITE=1 / SKIP_CHECKS=1 to skip a step,
# TEST_WORKERS (pytest-xdist processes per pass; default: the CPU count, at most 4).
set -uo pipefail

cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PY="$VENV/bin/python"
export PATH="$PWD/$VENV/bin:$PATH"
unset DATABASE_URL DJANGO_SETTINGS_MODULE GRIDCARE_ENV SECRET_KEY
export PYTHONDONTWRITEBYTECODE=1

[ -x "$PY" ] || { echo "test.sh: $PY missing; run 'make test' (it creates the virtualenv)" >&2; exit 2; }

# One throwaway var directory (secret key, static root, data) for every step, removed at
# the end together with the PostgreSQL server.
GRIDCARE_VAR_DIR="$(mktemp -d "${TMPDIR:-/tmp}/gridcare-test-var.XXXXXX")"
export GRIDCARE_VAR_DIR
GRIDCARE_PG_DIR=""
cleanup() {
    if [ -n "$GRIDCARE_PG_DIR" ]; then scripts/pg-stop.sh "$GRIDCARE_PG_DIR"; fi
    rm -rf "$GRIDCARE_VAR_DIR"
}
trap cleanup EXIT

# pytest-xdist: each worker has its own test database and var directory. `--dist load`
# hands tests out in pytest-django's order (plain database tests before the transactional
# ones that flush the tables), so within a worker no test runs after a flush it did not
# expect; `loadfile` would mix them and lose the role groups the migrations created.
TEST_WORKERS="${TEST_WORKERS:-$(n=$(nproc 2>/dev/null || echo 2); [ "$n" -gt 4 ] && n=4; echo "$n")}"
XDIST=(-n "$TEST_WORKERS" --dist load)

FAILED=()
START=$SECONDS
step() { echo; echo "==> $* [$((SECONDS - START)) s]"; }
run() {  # run NAME CMD...: run a step, remember its failure
    local name="$1"; shift
    step "$name: $*"
    "$@"
    local rc=$?
    if [ $rc -ne 0 ]; then
        [ $rc -eq 5 ] && echo "test.sh: $name collected no tests (pytest exit 5)" >&2
        echo "test.sh: FAILED $name (exit $rc)" >&2
        FAILED+=("$name")
    fi
    return 0
}

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n "$@"
    else return 1
    fi
}

# --- 1. system packages: chromium (browser tests), gettext (catalogue check), the PDF font
step "system packages"
scripts/system-packages.sh --test

# --- 2. static checks ---------------------------------------------------------
if [ "${SKIP_CHECKS:-0}" != 1 ]; then
    run ruff "$VENV/bin/ruff" check .
    run ruff-format "$VENV/bin/ruff" format --check .
    run mypy "$VENV/bin/mypy" gridcare
    run makemigrations env DJANGO_SETTINGS_MODULE=gridcare.settings_test \
        "$PY" manage.py makemigrations --check --dry-run
fi

# --- 3. pytest on PostgreSQL --------------------------------------------------
if [ "${SKIP_PG:-0}" != 1 ]; then
    step "starting a throwaway PostgreSQL server"
    if PG_ENV="$(scripts/pg-start.sh)"; then
        eval "$PG_ENV"  # GRIDCARE_PG_DIR, GRIDCARE_PG_PORT, DATABASE_URL
        run pytest-postgresql "$PY" -m pytest "${XDIST[@]}" "$@"
        step "stopping PostgreSQL"
        scripts/pg-stop.sh "$GRIDCARE_PG_DIR"
        GRIDCARE_PG_DIR=""
        unset DATABASE_URL
    else
        echo "test.sh: FAILED to start PostgreSQL" >&2
        FAILED+=("postgresql-start")
    fi
fi

# --- 4. pytest on SQLite ------------------------------------------------------
if [ "${SKIP_SQLITE:-0}" != 1 ]; then
    run pytest-sqlite env -u DATABASE_URL "$PY" -m pytest "${XDIST[@]}" -m "not browser and not postgresql" "$@"
fi

echo
if [ ${#FAILED[@]} -ne 0 ]; then
    echo "test.sh: FAILED steps: ${FAILED[*]} ($((SECONDS - START)) s)"
    exit 1
fi
echo "test.sh: all steps passed ($((SECONDS - START)) s)"
