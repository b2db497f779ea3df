#!/usr/bin/env bash
# The project's one test command: installs the daemon if needed, then runs
# every test (unit, integration against a private dlt-daemon, examples)
# and the doctests.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cargo test --workspace --all-targets
cargo test --workspace --doc
