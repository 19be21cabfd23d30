#!/usr/bin/env bash
# Builds one libFuzzer target with AddressSanitizer and runs it.
# Usage: Fuzz/run.sh <target> [seconds] [libFuzzer options or input files...]
#   target:  http | gguf | safetensors | json | template | gbnf | schema     seconds: default 600
#   e.g. Fuzz/run.sh json 60
#        Fuzz/run.sh gguf 0 some-crash-file     (seconds 0: replay the given files and exit)
# A first argument that is a number means the http target (the script's original usage).
#
# -sanitize-coverage is spelled out because, with this toolchain, -sanitize=fuzzer combined
# with -sanitize=address compiles Swift code without coverage counters, and libFuzzer then
# explores blindly ("no interesting inputs were found"). -DLIBFUZZER leaves out each target's
# replay `main` (used by plain builds), so that libFuzzer's main runs.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${1:-http}"
if [[ "$target" =~ ^[0-9]+$ ]]; then target=http; else shift || true; fi
seconds="${1:-600}"
shift || true

# Seeds come from Fuzz/corpus/<target>/ and, for some targets, from the test fixtures.
seeds=()
options=()
case "$target" in
    http) product=HTTPParserFuzzer ;;
    gguf) product=GGUFFuzzer ;;
    safetensors) product=SafetensorsFuzzer; seeds=(Tests/Fixtures/safetensors/small.safetensors) ;;
    json) product=JSONFuzzer; options=(-dict=Fuzz/dict/json.dict) ;;
    template)
        product=ChatTemplateFuzzer
        seeds=(Tests/Fixtures/chat-templates/templates/*.jinja)
        # Real templates reach 17 KB; a unit that runs 10 s is a hang the limits missed.
        options=(-dict=Fuzz/dict/template.dict -timeout=10 -max_len=20000) ;;
    gbnf) product=GBNFFuzzer; options=(-dict=Fuzz/dict/gbnf.dict -timeout=10) ;;
    schema) product=JSONSchemaFuzzer; options=(-dict=Fuzz/dict/schema.dict -timeout=10) ;;
    *) echo "unknown target '$target' (http, gguf, safetensors, json, template, gbnf, schema)" >&2; exit 2 ;;
esac

# Every target builds with the same flags, so switching targets rebuilds only the target itself.
swift build --package-path Fuzz -c release --sanitize=fuzzer --sanitize=address --product "$product" \
    -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table -Xswiftc -DLIBFUZZER
binary="Fuzz/.build/release/$product"

if [[ "$seconds" == 0 ]]; then
    # Replay mode: run the given inputs once each.
    SWIFT_BACKTRACE=enable=no "$binary" "${options[@]}" "$@"
    exit
fi

# The working corpus grows across runs; it lives under .build, which git ignores.
work="Fuzz/.build/corpus/$target"
artifacts="Fuzz/.build/artifacts/$target"
mkdir -p "$work" "$artifacts"
if [[ -d "Fuzz/corpus/$target" ]]; then cp Fuzz/corpus/"$target"/* "$work/"; fi
if ((${#seeds[@]})); then cp "${seeds[@]}" "$work/"; fi
SWIFT_BACKTRACE=enable=no "$binary" "${options[@]}" "$@" \
    -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$artifacts/" "$work"
