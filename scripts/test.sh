#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh machine, then runs every test.
# Tests that probe the machine's real services (PostgreSQL, …) fail under CI=true when the
# service is absent and skip with a printed reason elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked --all-targets "$@"
