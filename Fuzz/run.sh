#!/usr/bin/env bash
# Builds the HTTP parser fuzzer with libFuzzer and AddressSanitizer and runs it.
# Usage: Fuzz/run.sh [seconds]   (default 600)
#
# -sanitize-coverage is spelled out because, with this toolchain, -sanitize=fuzzer combined
# with -sanitize=address compiles Swift code without coverage counters, and libFuzzer then
# explores blindly ("no interesting inputs were found").
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
swift build --package-path Fuzz -c release --sanitize=fuzzer --sanitize=address \
    -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table
# The working corpus grows across runs; it lives under .build, which git ignores.
work=Fuzz/.build/corpus
mkdir -p "$work"
cp Fuzz/corpus/* "$work/"
SWIFT_BACKTRACE=enable=no Fuzz/.build/release/HTTPParserFuzzer \
    -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix=Fuzz/ "$work"
