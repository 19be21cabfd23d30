#!/usr/bin/env bash
# Kiln's test command: sets up what the tests need, then checks, builds and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
export KILN_DEFAULT_MODEL="$(Scripts/fetch-model.sh)"
# Every import a declared dependency; Docs/architecture.md's module table equal to Package.swift.
Scripts/check-architecture.py
swift build
swift test "$@"
# The repository's own checks, then end to end: the real binary on loopback, driven by the official
# openai client.
python3 -m pytest -q Tests/Repository Tests/EndToEnd
