#!/usr/bin/env bash
# Kiln's test command: sets up what the tests need, then checks, builds and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
export KILN_DEFAULT_MODEL="$(Scripts/fetch-model.sh)"
export KILN_DEFAULT_EMBEDDING_MODEL="$(Scripts/fetch-model.sh embedding)"
# Gemma 3 270M for its llama.cpp reference tests (which fetch it themselves when run alone): fetched
# once here so that tests running in parallel do not download it twice.
Scripts/fetch-model.sh gemma-3-270m > /dev/null
# Qwen2.5-Coder-0.5B, whose template writes tool calls, for the tool-call and schema end-to-end tests.
Scripts/fetch-model.sh qwen2.5-coder-0.5b > /dev/null
# Every import a declared dependency; Docs/architecture.md's module table equal to Package.swift.
Scripts/check-architecture.py
# The code is formatted as .swift-format says (fix with the same command, `lint` → `format -i`).
git ls-files -z 'Sources/*.swift' 'Tests/*.swift' 'Benchmarks/*.swift' Package.swift | xargs -0 swift format lint --strict -p
swift build
swift test "$@"
# The repository's own checks, then end to end: the real binary on loopback, driven by the official
# openai client.
python3 -m pytest -q Tests/Repository Tests/EndToEnd
