#!/usr/bin/env bash
# Installs what the tests and the demo need beyond the Rust toolchain:
# Debian's dlt-daemon and dlt-tools (dlt-receive, dlt-control).
# Does nothing when dlt-daemon and dlt-receive are already on PATH.
set -euo pipefail

missing=()
for tool in dlt-daemon dlt-receive dlt-control; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        missing+=("$tool")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-deps: dlt-daemon, dlt-receive and dlt-control already installed"
    exit 0
fi

echo "install-deps: missing ${missing[*]}; installing dlt-daemon dlt-tools with apt-get"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo_cmd=(sudo)
    else
        echo "install-deps: not root and sudo not found; run as root:" >&2
        echo "  apt-get update && apt-get install -y dlt-daemon dlt-tools" >&2
        exit 1
    fi
fi

echo "install-deps: ${sudo_cmd[*]:+${sudo_cmd[*]} }apt-get update"
"${sudo_cmd[@]}" apt-get update
echo "install-deps: ${sudo_cmd[*]:+${sudo_cmd[*]} }apt-get install -y dlt-daemon dlt-tools"
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y dlt-daemon dlt-tools

# Debian starts the packaged daemon as a service where systemd runs; our
# tests never use it (each starts a private daemon), so it is left alone.
for tool in dlt-daemon dlt-receive dlt-control; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "install-deps: $tool still not on PATH after installing" >&2
        exit 1
    fi
done
echo "install-deps: installed $(command -v dlt-daemon) and $(command -v dlt-receive)"
