# Services the reliability tests need: a PostgreSQL server on loopback, a Redis server on loopback
# (the model-scoring queue of workers on several machines), Debian's chromium, Debian's nginx (the
# slow-client test runs it on loopback in front of gunicorn; not started here), and the model
# sandbox's bubblewrap and python3-seccomp (challenge/sandbox.py).
# Sourced by .ci/run before `make test` (`source .ci/services.sh`); safe to source again.
# Exports LEADERBOARD_TEST_POSTGRES_URL for the tests that run the leaderboard on PostgreSQL and
# LEADERBOARD_TEST_REDIS_URL for the tests that run `leaderboard worker`s on Redis; both servers
# are stopped, and their folders removed, when the sourcing shell exits.
# Nothing here is fatal: when a service cannot be had, its tests skip and say why.

_services_log() { echo "services.sh: $*" >&2; }

_services_install() {
    local missing=() package
    for package in postgresql redis-server chromium nginx bubblewrap python3-seccomp; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$package")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        _services_log "not root: cannot install ${missing[*]}; their tests will skip"
        return 1
    fi
    _services_log "installing ${missing[*]} from the OS packages"
    # The Debian packages would start their own servers on ports 5432 and 6379 where they can;
    # we start ours below, on free ports.
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq &&
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

_services_as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u "$LEADERBOARD_PG_USER" -- "$@"; else "$@"; fi
}

_services_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

_services_start_postgres() {
    local bindir port password
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
        _services_log "no PostgreSQL server binaries under /usr/lib/postgresql; PostgreSQL tests will skip"
        return 1
    fi
    # initdb refuses to run as root: as root, the server runs as the postgres user.
    LEADERBOARD_PG_USER=postgres
    if [ "$(id -u)" -ne 0 ]; then
        LEADERBOARD_PG_USER=$(id -un)
    fi
    LEADERBOARD_PG_DIR=$(mktemp -d /tmp/leaderboard-pg.XXXXXX)
    chown "$LEADERBOARD_PG_USER" "$LEADERBOARD_PG_DIR"
    port=$(_services_free_port)
    password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
    # Local socket: peer auth for the server's own user; TCP on loopback only, with a password.
    _services_as_pg "$bindir/initdb" -D "$LEADERBOARD_PG_DIR/data" -U postgres --auth-local=trust \
        --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null &&
        _services_as_pg "$bindir/pg_ctl" -D "$LEADERBOARD_PG_DIR/data" -l "$LEADERBOARD_PG_DIR/server.log" -w \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $LEADERBOARD_PG_DIR -c fsync=off" start >/dev/null &&
        _services_as_pg "$bindir/psql" -q -h "$LEADERBOARD_PG_DIR" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
            -c "CREATE ROLE leaderboard LOGIN CREATEDB PASSWORD '$password'" \
            -c "CREATE DATABASE leaderboard_test OWNER leaderboard" || {
        _services_log "PostgreSQL did not start; see $LEADERBOARD_PG_DIR/server.log"
        return 1
    }
    LEADERBOARD_PG_CTL="$bindir/pg_ctl"
    export LEADERBOARD_TEST_POSTGRES_URL="postgresql+psycopg://leaderboard:$password@127.0.0.1:$port/leaderboard_test"
    _services_log "PostgreSQL on 127.0.0.1:$port, database leaderboard_test (data in $LEADERBOARD_PG_DIR)"
}

_services_start_redis() {
    local port password
    if ! command -v redis-server >/dev/null; then
        _services_log "no redis-server; the Redis queue tests will skip"
        return 1
    fi
    LEADERBOARD_REDIS_DIR=$(mktemp -d /tmp/leaderboard-redis.XXXXXX)
    port=$(_services_free_port)
    password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
    # Loopback only, with a password; no persistence (no RDB snapshots, no append-only file).
    redis-server --bind 127.0.0.1 --port "$port" --requirepass "$password" --save "" \
        --appendonly no --dir "$LEADERBOARD_REDIS_DIR" --daemonize yes \
        --pidfile "$LEADERBOARD_REDIS_DIR/redis.pid" --logfile "$LEADERBOARD_REDIS_DIR/redis.log" &&
        for _ in $(seq 50); do
            REDISCLI_AUTH="$password" redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG && break
            sleep 0.1
        done &&
        REDISCLI_AUTH="$password" redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG || {
        _services_log "Redis did not start; see $LEADERBOARD_REDIS_DIR/redis.log"
        return 1
    }
    export LEADERBOARD_TEST_REDIS_URL="redis://:$password@127.0.0.1:$port/0"
    _services_log "Redis on 127.0.0.1:$port (folder $LEADERBOARD_REDIS_DIR)"
}

leaderboard_services_stop() {
    if [ -n "${LEADERBOARD_PG_DIR:-}" ] && [ -d "$LEADERBOARD_PG_DIR/data" ]; then
        _services_as_pg "$LEADERBOARD_PG_CTL" -D "$LEADERBOARD_PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
        rm -rf "$LEADERBOARD_PG_DIR"
    fi
    if [ -n "${LEADERBOARD_REDIS_DIR:-}" ] && [ -f "$LEADERBOARD_REDIS_DIR/redis.pid" ]; then
        # SIGTERM: Redis exits within a second (nothing to save), then its folder goes
        local pid
        pid=$(cat "$LEADERBOARD_REDIS_DIR/redis.pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        rm -rf "$LEADERBOARD_REDIS_DIR"
    fi
}

if ! _services_install; then
    _services_log "could not install the OS packages; PostgreSQL and browser tests may skip"
fi
# A URL given from outside (a developer's own server) is used as it is.
_services_started=0
if [ -z "${LEADERBOARD_TEST_POSTGRES_URL:-}" ]; then
    _services_start_postgres && _services_started=1
fi
if [ -z "${LEADERBOARD_TEST_REDIS_URL:-}" ]; then
    _services_start_redis && _services_started=1
fi
if [ "$_services_started" -eq 1 ]; then
    trap leaderboard_services_stop EXIT
fi
if [ ! -x /usr/bin/chromium ]; then
    _services_log "no /usr/bin/chromium; the browser tests will skip"
fi
if ! command -v nginx >/dev/null; then
    _services_log "no nginx; the nginx + gunicorn slow-client test will skip"
fi
