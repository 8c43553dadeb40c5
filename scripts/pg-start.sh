#!/usr/bin/env bash
# Start a throwaway PostgreSQL 15 server for the test suite.
#
# Usage:  eval "$(scripts/pg-start.sh)"      then later   scripts/pg-stop.sh "$GRIDCARE_PG_DIR"
#
# The server lives in a fresh `mktemp -d` directory, listens only on 127.0.0.1 on a free
# port, keeps its unix socket inside that directory, trusts local connections and runs
# with durability off (fsync=off): it is thrown away after the run. initdb refuses to
# run as root, so as root the server runs as the `postgres` user.
# On stdout it prints only shell `export` lines: GRIDCARE_PG_DIR, GRIDCARE_PG_PORT, DATABASE_URL.
set -euo pipefail

PG_VERSION="${PG_VERSION:-15}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/${PG_VERSION}/bin}"

log() { echo "pg-start: $*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n "$@"
    else return 1
    fi
}

if [ ! -x "$PG_BIN/initdb" ] || [ ! -x "$PG_BIN/pg_ctl" ]; then
    log "PostgreSQL server binaries not found in $PG_BIN; installing postgresql-${PG_VERSION} with apt"
    if ! { as_root apt-get update -qq >&2 \
           && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                "postgresql-${PG_VERSION}" >&2; }; then
        log "could not install postgresql-${PG_VERSION}; trying the 'postgresql' package"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2 || {
            log "cannot install PostgreSQL (not root and no password-less sudo)"; exit 1; }
    fi
    if [ ! -x "$PG_BIN/initdb" ]; then
        # Whatever version apt gave us.
        PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
        [ -x "$PG_BIN/initdb" ] || { log "no initdb after install"; exit 1; }
    fi
fi

# Run a command as the server's owner: `postgres` when we are root, else ourselves.
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /bin/sh postgres
    as_owner() { runuser -u postgres -- "$@"; }
else
    as_owner() { "$@"; }
fi

PORT="${GRIDCARE_PG_PORT:-}"
if [ -z "$PORT" ]; then
    PORT="$(python3 - <<'PY'
import socket
# Prefer 55432 and up (easy to recognise); fall back to any port the kernel hands out.
for port in [*range(55432, 55532), 0]:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    else:
        print(s.getsockname()[1])
        break
    finally:
        s.close()
PY
)"
fi

# Under /tmp, not $TMPDIR: the `postgres` user must be able to reach it.
DIR="$(mktemp -d /tmp/gridcare-pg.XXXXXX)"
chmod 700 "$DIR"
mkdir -p "$DIR/data" "$DIR/sock"
if [ "$(id -u)" = 0 ]; then chown -R postgres: "$DIR"; fi
# The caller's directory (a CI clone under /root, say) may be closed to `postgres`.
cd "$DIR"

log "initdb in $DIR (port $PORT)"
as_owner "$PG_BIN/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --no-locale --no-sync \
    >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; rm -rf "$DIR"; exit 1; }

as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start -o \
    "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR/sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50" \
    >/dev/null 2>&1 || { cat "$DIR/server.log" >&2; rm -rf "$DIR"; exit 1; }

for _ in $(seq 1 60); do
    if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U postgres; then break; fi
    sleep 0.5
done
"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U postgres || {
    log "server did not become ready"; cat "$DIR/server.log" >&2
    as_owner "$PG_BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$DIR"; exit 1; }

"$PG_BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres gridcare

log "PostgreSQL ready on 127.0.0.1:$PORT"
echo "export GRIDCARE_PG_DIR='$DIR'"
echo "export GRIDCARE_PG_BIN='$PG_BIN'"
echo "export GRIDCARE_PG_PORT='$PORT'"
echo "export DATABASE_URL='postgres://postgres@127.0.0.1:$PORT/gridcare'"
