#!/usr/bin/env bash
# Installs what the tests and the demo need beyond the Rust toolchain:
# Debian's dlt-daemon and dlt-tools (dlt-receive, dlt-control), and
# dlt-viewer (COVESA DLT Viewer, which tests/viewer.rs runs headless).
# Does nothing when all four are already on PATH.
set -euo pipefail

missing=()
for tool in dlt-daemon dlt-receive dlt-control dlt-viewer; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        missing+=("$tool")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-deps: dlt-daemon, dlt-receive, dlt-control and dlt-viewer already installed"
    exit 0
fi

packages=(dlt-daemon dlt-tools dlt-viewer)
echo "install-deps: missing ${missing[*]}; installing ${packages[*]} with apt-get"
# shellcheck source=lib/apt.sh
. "$(dirname "$0")/lib/apt.sh"
apt_install install-deps "${packages[@]}"

# Debian starts the packaged daemon as a service where systemd runs; our
# tests never use it (each starts a private daemon), so it is left alone.
for tool in dlt-daemon dlt-receive dlt-control dlt-viewer; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "install-deps: $tool still not on PATH after installing" >&2
        exit 1
    fi
done
echo "install-deps: installed $(command -v dlt-daemon), $(command -v dlt-receive) and $(command -v dlt-viewer)"
