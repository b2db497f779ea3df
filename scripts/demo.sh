#!/usr/bin/env bash
# Shows taktora-log end to end: builds the quickstart example, starts a
# private dlt-daemon (own temp dir, own config with UDP off and TCP on ::1
# only, a free port), connects dlt-receive to it, runs the example against
# it and prints what dlt-receive received. Both processes are stopped by
# their PIDs when the script exits, whether it succeeds or fails.
#
# Environment:
#   DEMO_CMD        run this shell command instead of the quickstart example
#                   (it gets DLT_PIPE_DIR too), e.g.
#                   DEMO_CMD="python3 ../shared/dlt/speak.py" scripts/demo.sh
#   DEMO_LAST_LINE  stop waiting as soon as the received output contains
#                   this text (otherwise: when the output has been quiet
#                   for a second, at most 15 s)
#   DEMO_CAPTURE    also store everything the daemon forwards in this DLT
#                   file (a second dlt-receive, with -o), as DLT Viewer
#                   opens it; scripts/screenshot.sh uses it
set -euo pipefail
cd "$(dirname "$0")/.."

readonly READY_TIMEOUT_S=10
readonly SETTLE_TIMEOUT_S=15

daemon_pid=""
receiver_pid=""
capture_pid=""
work_dir=""

log() { echo "demo: $*" >&2; }

# Sends SIGTERM to one of our background PIDs, waits up to 5 s, then SIGKILL.
stop_pid() {
    local pid=$1 name=$2 i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local status=$?
    stop_pid "$receiver_pid" dlt-receive
    stop_pid "$capture_pid" "dlt-receive -o"
    stop_pid "$daemon_pid" dlt-daemon
    if [ -n "$work_dir" ]; then
        if [ "$status" -ne 0 ] && [ -f "$work_dir/dlt-daemon-internal.log" ]; then
            log "daemon log ($work_dir/dlt-daemon-internal.log):"
            sed 's/^/    /' "$work_dir/dlt-daemon-internal.log" >&2 || true
        fi
        rm -rf -- "$work_dir"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A TCP port that is free on ::1 right now.
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0)); print(s.getsockname()[1])'
        return
    fi
    local port i
    for ((i = 0; i < 100; i++)); do
        port=$((20000 + RANDOM % 40000))
        if [ -z "$(ss -Hltn "( sport = :$port )")" ]; then
            echo "$port"
            return
        fi
    done
    log "no free port found"
    return 1
}

# Writes the private config of shared/dlt/private-daemon.md for dir $1.
write_config() {
    local d=$1
    cat >"$d/dlt.conf" <<CONF
SendContextRegistration = 1
ECUId = ECU1
SharedMemorySize = 100000
PersistanceStoragePath = $d
LoggingMode = 2
LoggingLevel = 4
LoggingFilename = $d/dlt-daemon-internal.log
TimeOutOnSend = 4
RingbufferMinSize = 500000
RingbufferMaxSize = 10000000
RingbufferStepSize = 500000
ControlSocketPath = $d/dlt-ctrl.sock
UDPConnectionSetup = 0
BindAddress = ::1
CONF
}

# Starts dlt-daemon on $port and waits until its FIFO exists and it (this
# very PID) listens on the port. Returns 1 if it exits first (port taken).
start_daemon() {
    local i
    rm -f -- "$work_dir/dlt"
    dlt-daemon -c "$work_dir/dlt.conf" -t "$work_dir" -p "$port" \
        >>"$work_dir/dlt-daemon-stdout.log" 2>&1 </dev/null &
    daemon_pid=$!
    for ((i = 0; i < READY_TIMEOUT_S * 50; i++)); do
        if ! kill -0 "$daemon_pid" 2>/dev/null; then
            wait "$daemon_pid" 2>/dev/null || true
            daemon_pid=""
            return 1
        fi
        if [ -p "$work_dir/dlt" ] &&
            ss -Hltnp "( sport = :$port )" | grep -q "pid=$daemon_pid,"; then
            return 0
        fi
        sleep 0.02
    done
    log "dlt-daemon (pid $daemon_pid) not ready within ${READY_TIMEOUT_S}s"
    exit 1
}

scripts/install-deps.sh

if [ -z "${DEMO_CMD:-}" ]; then
    log "building the quickstart example"
    cargo build --example quickstart
fi

work_dir=$(mktemp -d "${TMPDIR:-/tmp}/taktora-demo.XXXXXX")
write_config "$work_dir"
for attempt in 1 2 3; do
    port=$(free_port)
    if start_daemon; then
        break
    fi
    log "dlt-daemon exited at start-up on port $port (attempt $attempt/3)"
    [ "$attempt" -lt 3 ] || exit 1
done
log "private dlt-daemon pid $daemon_pid, dir $work_dir, port [::1]:$port"

received="$work_dir/received.txt"
stdbuf -oL dlt-receive -a -p "$port" ::1 >"$received" 2>"$work_dir/dlt-receive.err" </dev/null &
receiver_pid=$!
for ((i = 0; ; i++)); do
    grep -q "New client connection" "$received" && break
    if ! kill -0 "$receiver_pid" 2>/dev/null || [ "$i" -ge $((READY_TIMEOUT_S * 50)) ]; then
        log "dlt-receive (pid $receiver_pid) did not connect within ${READY_TIMEOUT_S}s"
        cat "$work_dir/dlt-receive.err" >&2
        exit 1
    fi
    sleep 0.02
done
log "dlt-receive pid $receiver_pid connected"

if [ -n "${DEMO_CAPTURE:-}" ]; then
    rm -f -- "$DEMO_CAPTURE"
    dlt-receive -o "$DEMO_CAPTURE" -p "$port" ::1 >/dev/null 2>&1 </dev/null &
    capture_pid=$!
    for ((i = 0; ; i++)); do
        [ -f "$DEMO_CAPTURE" ] && grep -aq "New client connection" "$DEMO_CAPTURE" && break
        if ! kill -0 "$capture_pid" 2>/dev/null || [ "$i" -ge $((READY_TIMEOUT_S * 50)) ]; then
            log "dlt-receive -o (pid $capture_pid) did not connect within ${READY_TIMEOUT_S}s"
            exit 1
        fi
        sleep 0.02
    done
    log "dlt-receive -o $DEMO_CAPTURE (pid $capture_pid) connected"
fi

export DLT_PIPE_DIR="$work_dir"
if [ -n "${DEMO_CMD:-}" ]; then
    log "running: DLT_PIPE_DIR=$work_dir $DEMO_CMD"
    bash -c "$DEMO_CMD"
else
    log "running: DLT_PIPE_DIR=$work_dir cargo run -q --example quickstart"
    cargo run -q --example quickstart
fi

# Wait (bounded) until the expected last line arrived, or the output has
# stopped growing for a second.
last_size=-1
quiet=0
for ((i = 0; i < SETTLE_TIMEOUT_S * 10; i++)); do
    if [ -n "${DEMO_LAST_LINE:-}" ] && grep -qF -- "$DEMO_LAST_LINE" "$received"; then
        break
    fi
    size=$(wc -c <"$received")
    if [ "$size" -eq "$last_size" ]; then
        quiet=$((quiet + 1))
        [ -n "${DEMO_LAST_LINE:-}" ] || [ "$quiet" -lt 10 ] || break
    else
        quiet=0
        last_size=$size
    fi
    sleep 0.1
done

echo
echo "=== dlt-receive -a -p $port ::1 (what the private dlt-daemon forwarded) ==="
cat "$received"
echo "=== end of dlt-receive output ==="

if [ -n "${DEMO_LAST_LINE:-}" ] && ! grep -qF -- "$DEMO_LAST_LINE" "$received"; then
    log "expected line not received within ${SETTLE_TIMEOUT_S}s: $DEMO_LAST_LINE"
    exit 1
fi
