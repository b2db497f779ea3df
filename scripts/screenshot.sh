#!/usr/bin/env bash
# Makes docs/dlt-viewer.png: what DLT Viewer shows for the quickstart.
#
# Runs scripts/demo.sh (the quickstart against a private dlt-daemon it
# starts and stops itself) with DEMO_CAPTURE, so that a dlt-receive -o
# stores everything the daemon forwarded in a DLT file; then opens that
# file in dlt-viewer on a virtual X display (Xvfb, via xvfb-run), and
# saves a PNG of the window with its message table. Rerunnable: each run
# uses fresh temp dirs (removed at the end) and overwrites the PNG.
#
# Needs, and installs with apt-get when missing: dlt-daemon, dlt-tools and
# dlt-viewer (scripts/install-deps.sh), xvfb (xvfb-run), x11-apps (xwd),
# xdotool (to size the window) and netpbm (xwdtopnm, pnmtopng).
#
# Environment:
#   SCREENSHOT_OUT  where to write the PNG (default docs/dlt-viewer.png)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/apt.sh
. scripts/lib/apt.sh

readonly OUT=${SCREENSHOT_OUT:-docs/dlt-viewer.png}
# The window's (and the virtual screen's) size, and how long to wait for it;
# exported for grab.sh inside the virtual display.
export WIDTH=1360 HEIGHT=560 SHOT_HEIGHT=470 WINDOW_TIMEOUT_S=30

log() { echo "screenshot: $*" >&2; }

work_dir=$(mktemp -d "${TMPDIR:-/tmp}/taktora-screenshot.XXXXXX")
trap 'rm -rf -- "$work_dir"' EXIT

scripts/install-deps.sh
missing=()
for pair in xvfb-run:xvfb xwd:x11-apps xdotool:xdotool xwdtopnm:netpbm pnmtopng:netpbm; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]} with apt-get"
    apt_install screenshot "${missing[@]}"
fi

# The viewer's settings, in its fresh HOME: the columns a DLT engineer
# reads (level and session ID included, time stamps and counters left
# out), warnings and errors marked in colour, no auto-scrolling.
mkdir -p "$work_dir/.dlt/config"
cat >"$work_dir/.dlt/config/config.ini" <<'INI'
[startup]
showIndex=1
showTime=1
showTimestamp=0
showCount=0
showEcuId=1
showApId=1
showCtId=1
showSessionId=1
showType=1
showSubtype=1
showMode=1
showNoar=1
showPayload=1
autoScroll=0
autoMarkFatalError=1
autoMarkWarn=1
INI

capture="$work_dir/quickstart.dlt"
DEMO_CAPTURE="$capture" DEMO_LAST_LINE="quickstart done" scripts/demo.sh
[ -s "$capture" ] || { log "no capture written to $capture"; exit 1; }

# Inside the virtual display: start the viewer on the capture, wait for
# its main window, size it, let it draw, grab the screen, stop the viewer.
cat >"$work_dir/grab.sh" <<'GRAB'
set -euo pipefail
dlt-viewer -s -l "$CAPTURE" >"$WORK/dlt-viewer.log" 2>&1 &
viewer=$!
trap 'kill "$viewer" 2>/dev/null || true; wait "$viewer" 2>/dev/null || true' EXIT
win=""
for ((i = 0; i < WINDOW_TIMEOUT_S * 10; i++)); do
    win=$(xdotool search --onlyvisible --name "DLT Viewer" 2>/dev/null | head -n1 || true)
    [ -n "$win" ] && break
    kill -0 "$viewer" 2>/dev/null || { cat "$WORK/dlt-viewer.log" >&2; exit 1; }
    sleep 0.1
done
[ -n "$win" ] || { echo "no DLT Viewer window within ${WINDOW_TIMEOUT_S}s" >&2; exit 1; }
xdotool windowmove "$win" 0 0 windowsize "$win" "$WIDTH" "$HEIGHT"
sleep 1
# Close the "Search Results" and "Project" docks (their title bars' close
# buttons at this window size), so that the message table fills the window.
xdotool mousemove $((WIDTH - 8)) 306 click 1
sleep 0.5
xdotool mousemove 334 71 click 1
# Then only as tall as the table needs.
xdotool windowsize "$win" "$WIDTH" "$SHOT_HEIGHT"
# Nothing signals "table drawn": give the viewer a moment to load and paint.
sleep 3
xwd -id "$win" -silent >"$WORK/screen.xwd"
GRAB
log "opening the capture in dlt-viewer under Xvfb"
HOME="$work_dir" XDG_CONFIG_HOME="$work_dir" XDG_CACHE_HOME="$work_dir" \
    XDG_RUNTIME_DIR="$work_dir" CAPTURE="$capture" WORK="$work_dir" \
    xvfb-run -a -s "-screen 0 ${WIDTH}x${HEIGHT}x24" bash "$work_dir/grab.sh"

xwdtopnm "$work_dir/screen.xwd" 2>/dev/null | pnmtopng >"$OUT.tmp" 2>/dev/null
mv -- "$OUT.tmp" "$OUT"
log "wrote $OUT"
