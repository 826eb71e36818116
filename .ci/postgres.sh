# Sourced by .ci/run: a throwaway PostgreSQL cluster for the `wlkit sweep --join` test
# (tests/tools/test_sweep_postgres.py), stopped and deleted when the calling shell exits.
#
# Uses PostgreSQL binaries already on the machine (Debian's /usr/lib/postgresql/<v>/bin, or
# initdb/pg_ctl on PATH), else installs Debian's `postgresql` package (with sudo when not
# root). The cluster lives in a temp folder, listens on 127.0.0.1 on a free port and trusts
# local connections; PostgreSQL refuses to run as root, so under root it runs as the
# `postgres` user (or `nobody`). Exports WLKIT_TEST_POSTGRES_URL for pytest. A URL already
# in WLKIT_TEST_POSTGRES_URL is used as it is; WLKIT_CI_NO_POSTGRES=1 skips all of this (the
# test then skips).

_wlkit_pg_bindir() {
    local dir found=""
    for dir in /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then found="$dir"; fi  # newest last
    done
    if [ -z "$found" ] && command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
        found="$(dirname "$(command -v initdb)")"
    fi
    printf '%s' "$found"
}

_wlkit_pg_as() {
    # run a command as the cluster's owner (PostgreSQL refuses root)
    if [ -n "$_WLKIT_PG_USER" ]; then
        runuser -u "$_WLKIT_PG_USER" -- "$@"
    else
        "$@"
    fi
}

wlkit_pg_stop() {
    if [ -n "${_WLKIT_PG_DIR:-}" ] && [ -d "$_WLKIT_PG_DIR" ]; then
        _wlkit_pg_as "$_WLKIT_PG_BIN/pg_ctl" -D "$_WLKIT_PG_DIR/data" -m immediate -w stop \
            >/dev/null 2>&1 || true
        rm -rf "$_WLKIT_PG_DIR"
    fi
}

wlkit_pg_start() {
    if [ "${WLKIT_CI_NO_POSTGRES:-0}" = "1" ] || [ -n "${WLKIT_TEST_POSTGRES_URL:-}" ]; then
        return 0
    fi
    _WLKIT_PG_BIN="$(_wlkit_pg_bindir)"
    if [ -z "$_WLKIT_PG_BIN" ]; then
        echo "ci: installing PostgreSQL (Debian package postgresql) for the sweep test" >&2
        local sudo=""
        if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
        $sudo apt-get update -qq
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        _WLKIT_PG_BIN="$(_wlkit_pg_bindir)"
        if [ -z "$_WLKIT_PG_BIN" ]; then
            echo "ci: no initdb/pg_ctl after installing postgresql" >&2
            return 1
        fi
    fi
    _WLKIT_PG_USER=""
    if [ "$(id -u)" -eq 0 ]; then
        if id postgres >/dev/null 2>&1; then _WLKIT_PG_USER=postgres; else _WLKIT_PG_USER=nobody; fi
    fi
    _WLKIT_PG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/wlkit-pg.XXXXXX")"
    trap wlkit_pg_stop EXIT
    if [ -n "$_WLKIT_PG_USER" ]; then chown "$_WLKIT_PG_USER" "$_WLKIT_PG_DIR"; fi
    local port
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 55432)"
    _wlkit_pg_as "$_WLKIT_PG_BIN/initdb" -D "$_WLKIT_PG_DIR/data" -U wlkit -A trust -E UTF8 \
        --no-sync >"$_WLKIT_PG_DIR/initdb.log" 2>&1 \
        || { cat "$_WLKIT_PG_DIR/initdb.log" >&2; return 1; }
    # fsync off: a throwaway test cluster; the socket goes in the temp folder, not /run
    _wlkit_pg_as "$_WLKIT_PG_BIN/pg_ctl" -D "$_WLKIT_PG_DIR/data" -l "$_WLKIT_PG_DIR/server.log" \
        -o "-p $port -k $_WLKIT_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off" -w -t 60 start \
        >/dev/null || { cat "$_WLKIT_PG_DIR/server.log" >&2; return 1; }
    # the cluster's own `postgres` database: the tests name their studies uniquely
    export WLKIT_TEST_POSTGRES_URL="postgresql://wlkit@127.0.0.1:$port/postgres"
    echo "ci: $("$_WLKIT_PG_BIN/postgres" --version) at $WLKIT_TEST_POSTGRES_URL" \
         "(cluster in $_WLKIT_PG_DIR)" >&2
}
