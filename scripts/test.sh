#!/usr/bin/env bash
# The project's one test command: installs the daemon if needed, builds
# the other dlt-daemon variants from ../shared/dlt/daemons when those
# sources are there (once: scripts/build-daemons.sh caches them outside the
# clone), then runs every test (unit, integration against private daemons
# of every built variant, examples) and the doctests.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
sources="$(scripts/build-daemons.sh --sources)"
if [ -d "$sources" ]; then
    scripts/build-daemons.sh
elif [ "${CI:-}" = "true" ] || [ "${CI:-}" = "1" ]; then
    echo "test.sh: CI=true but the daemon sources are missing: $sources" >&2
    echo "  (set TAKTORA_DLT_SOURCES to the directory with dlt-daemon-<version>.tar.gz)" >&2
    exit 1
else
    echo "test.sh: no daemon sources at $sources: only Debian's dlt-daemon is tested;"
    echo "  the other variants' tests are reported as ignored (set TAKTORA_DLT_SOURCES"
    echo "  to the directory with dlt-daemon-<version>.tar.gz, or run scripts/build-daemons.sh)"
fi
# The lifecycle test's child built with panic = "abort" (its own profile).
cargo build -p layer-tests --bin panic_abort_child --profile panic-abort
cargo test --workspace --all-targets
cargo test --workspace --doc
