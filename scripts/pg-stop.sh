#!/usr/bin/env bash
# Stop a server started by scripts/pg-start.sh and remove its directory.
# Usage: scripts/pg-stop.sh [DIR]   (default: $GRIDCARE_PG_DIR)
set -uo pipefail

DIR="${1:-${GRIDCARE_PG_DIR:-}}"
PG_BIN="${GRIDCARE_PG_BIN:-/usr/lib/postgresql/15/bin}"
[ -n "$DIR" ] && [ -d "$DIR" ] || exit 0
case "$DIR" in */gridcare-pg.*) ;; *) echo "pg-stop: refusing to remove $DIR" >&2; exit 1;; esac

cd "$DIR" || exit 1  # the caller's directory may be closed to `postgres`
if [ -f "$DIR/data/postmaster.pid" ]; then
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1
    else
        "$PG_BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1
    fi || echo "pg-stop: pg_ctl stop failed (see $DIR/server.log)" >&2
fi
cd / && rm -rf "$DIR"
