#!/usr/bin/env bash
# Builds the dlt-daemon variants the tests run against, from the upstream
# sources in the project's shared directory, into a cache OUTSIDE the
# clone, so a second run (and a second clone) reuses them.
#
#   scripts/build-daemons.sh            # every variant
#   scripts/build-daemons.sh 3.0.0-fifo # only the named ones
#   scripts/build-daemons.sh --list     # variant names, one a line
#   scripts/build-daemons.sh --sources  # where it looks for the tarballs
#
# Environment:
#   TAKTORA_DLT_SOURCES  directory with dlt-daemon-<version>.tar.gz
#                        (default: ../shared/dlt/daemons beside the clone)
#   TAKTORA_DAEMON_CACHE where variants go
#                        (default: ${XDG_CACHE_HOME:-$HOME/.cache}/taktora-log/daemons)
#
# Each variant lands in $TAKTORA_DAEMON_CACHE/<variant>/ (bin/dlt-daemon,
# bin/dlt-receive, ...), with a stamp file keyed by the tarball's sha256
# and the cmake options: a variant whose stamp matches is not rebuilt.
# Debian's dlt-daemon 2.18.8 (scripts/install-deps.sh) stays the default
# daemon; layer-tests/src/variant.rs knows the same names.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/apt.sh
. scripts/lib/apt.sh

sources="${TAKTORA_DLT_SOURCES:-$(cd .. && pwd)/shared/dlt/daemons}"
cache="${TAKTORA_DAEMON_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/taktora-log/daemons}"

# Upstream compiles with -Werror after any CMAKE_C_FLAGS, and 2.18.11's
# trace-load code does not build warning-free with Debian 12's gcc: a
# compiler launcher appends -Wno-error to every compile (see wno_error).
common=(-DCMAKE_BUILD_TYPE=Release -DWITH_SYSTEMD=OFF -DWITH_DLT_TESTS=OFF
    -DWITH_DLT_EXAMPLES=OFF -DWITH_DLT_UNIT_TESTS=OFF -DDLT_USER=root
    -DWITH_DLT_ADAPTOR=OFF -DWITH_MAN=OFF)

# name version extra-options...
variant_spec() {
    case "$1" in
        2.18.10-fifo) echo "2.18.10 -DDLT_IPC=FIFO" ;;
        2.18.11-fifo) echo "2.18.11 -DDLT_IPC=FIFO" ;;
        2.18.11-fifo-traceload) echo "2.18.11 -DDLT_IPC=FIFO -DWITH_DLT_TRACE_LOAD_CTRL=ON" ;;
        3.0.0-fifo) echo "3.0.0 -DDLT_IPC=FIFO" ;;
        # The application socket's directory is compiled in: it lives in
        # the variant's own cache dir, and the tests serialise on it.
        3.0.0-socket) echo "3.0.0 -DDLT_IPC=UNIX_SOCKET -DDLT_USER_IPC_PATH=$cache/3.0.0-socket/ipc" ;;
        *) return 1 ;;
    esac
}
all_variants=(2.18.10-fifo 2.18.11-fifo 2.18.11-fifo-traceload 3.0.0-fifo 3.0.0-socket)

if [ "${1:-}" = "--list" ]; then
    printf '%s\n' "${all_variants[@]}"
    exit 0
fi
if [ "${1:-}" = "--sources" ]; then
    echo "$sources"
    exit 0
fi
wanted=("$@")
[ "${#wanted[@]}" -gt 0 ] || wanted=("${all_variants[@]}")

# A UNIX socket's path must fit sun_path (107 bytes and a NUL).
socket_path="$cache/3.0.0-socket/ipc/dlt"
if [ "${#socket_path}" -gt 107 ]; then
    echo "build-daemons: $socket_path is longer than a UNIX socket path may be (107 bytes);" >&2
    echo "  set TAKTORA_DAEMON_CACHE to a shorter directory" >&2
    exit 1
fi

ensure_tools() {
    if command -v cmake >/dev/null 2>&1 && command -v cc >/dev/null 2>&1 \
        && command -v make >/dev/null 2>&1; then
        return
    fi
    echo "build-daemons: cmake or a C compiler missing; installing cmake build-essential zlib1g-dev"
    apt_install build-daemons cmake build-essential zlib1g-dev
}

build_variant() {
    local name="$1" spec version tarball sha opts dir stamp work start
    spec="$(variant_spec "$name")" || {
        echo "build-daemons: unknown variant '$name' (known: ${all_variants[*]})" >&2
        exit 2
    }
    read -r version opts <<<"$spec"
    tarball="$sources/dlt-daemon-$version.tar.gz"
    if [ ! -f "$tarball" ]; then
        echo "build-daemons: $tarball not found; set TAKTORA_DLT_SOURCES to the directory holding dlt-daemon-$version.tar.gz" >&2
        exit 1
    fi
    sha="$(sha256sum "$tarball" | cut -d' ' -f1)"
    dir="$cache/$name"
    stamp="$sha ${common[*]} $opts"
    if [ -x "$dir/bin/dlt-daemon" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ]; then
        echo "build-daemons: $name up to date in $dir"
        return
    fi
    ensure_tools
    start=$(date +%s)
    echo "build-daemons: building $name (dlt-daemon $version $opts) into $dir"
    rm -rf "$dir"
    mkdir -p "$dir/ipc"
    work="$(mktemp -d "${TMPDIR:-/tmp}/taktora-daemon-build.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$work'" EXIT  # on failure; on success removed below
    tar -xzf "$tarball" -C "$work"
    printf '#!/bin/sh\nexec "$@" -Wno-error\n' >"$work/wno_error"
    chmod +x "$work/wno_error"
    # shellcheck disable=SC2086
    cmake -S "$work/dlt-daemon-$version" -B "$work/build" -DCMAKE_INSTALL_PREFIX="$dir" \
        -DCMAKE_C_COMPILER_LAUNCHER="$work/wno_error" \
        "${common[@]}" $opts >"$work/cmake.log" 2>&1 \
        || { cat "$work/cmake.log" >&2; exit 1; }
    cmake --build "$work/build" -j2 >"$work/build.log" 2>&1 \
        || { tail -50 "$work/build.log" >&2; exit 1; }
    cmake --install "$work/build" >"$work/install.log" 2>&1 \
        || { cat "$work/install.log" >&2; exit 1; }
    echo "$stamp" >"$dir/stamp"
    rm -rf "$work"
    trap - EXIT
    echo "build-daemons: built $name in $(($(date +%s) - start)) s"
}

total_start=$(date +%s)
for name in "${wanted[@]}"; do
    build_variant "$name"
done
echo "build-daemons: ${#wanted[@]} variant(s) ready in $cache ($(($(date +%s) - total_start)) s)"
