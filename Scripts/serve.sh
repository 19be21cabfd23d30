#!/usr/bin/env bash
# Sets up, builds Kiln in release mode and serves the default model on 127.0.0.1:8080.
# Extra arguments go to `kiln serve` (see `kiln serve --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
export KILN_DEFAULT_MODEL="$(Scripts/fetch-model.sh)"
export KILN_DEFAULT_EMBEDDING_MODEL="$(Scripts/fetch-model.sh embedding)"
swift build -c release --product kiln
exec .build/release/kiln serve "$@"
