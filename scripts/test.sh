#!/usr/bin/env bash
# The project's one test command: installs the daemon if needed, then runs
# every test (unit, integration against a private dlt-daemon, examples)
# and the doctests.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
# The lifecycle test's child built with panic = "abort" (its own profile).
cargo build -p layer-tests --bin panic_abort_child --profile panic-abort
cargo test --workspace --all-targets
cargo test --workspace --doc
