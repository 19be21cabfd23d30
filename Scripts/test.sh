#!/usr/bin/env bash
# Kiln's test command: sets up what the tests need, then builds and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
export KILN_DEFAULT_MODEL="$(Scripts/fetch-model.sh)"
swift build
swift test "$@"
# End to end: the real binary on loopback, driven by the official openai client.
python3 -m pytest -q Tests/EndToEnd
