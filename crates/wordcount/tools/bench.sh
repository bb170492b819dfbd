#!/usr/bin/env bash
# Measures wordcount on a generated mostly-English corpus, next to `wc -w`.
#
#   crates/wordcount/tools/bench.sh [MEGABYTES] [FILE]
#
# Generates FILE (default: a temporary file, removed afterwards) with the
# gen-corpus example, warms the page cache, then times `wordcount --format
# tsv` with 1 and 2 workers and `wc -w` in one hyperfine run (or with
# /usr/bin/time when hyperfine is not installed).
set -euo pipefail

mb=${1:-200}
cd "$(dirname "$0")/../../.."
cargo build --release -q -p wordcount --bin wordcount --example gen-corpus
target=${CARGO_TARGET_DIR:-target}
wordcount="$target/release/wordcount"

if [[ $# -ge 2 ]]; then
    file=$2
else
    file=$(mktemp --suffix=.txt)
    trap 'rm -f "$file"' EXIT
fi
if [[ ! -s $file ]]; then
    "$target/release/examples/gen-corpus" "$file" "$mb"
fi
bytes=$(stat -c %s "$file")
cat "$file" >/dev/null
echo "corpus: $file, $bytes bytes"

# Both worker counts must agree before anything is timed.
cmp <("$wordcount" --format tsv --workers 1 "$file") \
    <("$wordcount" --format tsv --workers 2 "$file")

if command -v hyperfine >/dev/null; then
    json=$(mktemp)
    hyperfine -N --warmup 2 --runs "${RUNS:-10}" --export-json "$json" \
        "$wordcount --format tsv --workers 1 $file" \
        "$wordcount --format tsv --workers 2 $file" \
        "wc -w $file" >&2
    python3 - "$json" "$bytes" "$file" <<'PY'
import json, statistics, sys
results = json.load(open(sys.argv[1]))["results"]
size, file = int(sys.argv[2]), sys.argv[3]
print(f"{'command':<45} {'median s':>9} {'best s':>7} {'MB/s median':>12} {'MB/s best':>10}")
for r in results:
    med, best = statistics.median(r["times"]), min(r["times"])
    cmd = r["command"].replace(file, "FILE").split("/")[-1]
    print(f"{cmd:<45} {med:9.3f} {best:7.3f} {size / med / 1e6:12.0f} {size / best / 1e6:10.0f}")
PY
    rm -f "$json"
else
    for workers in 1 2; do
        /usr/bin/time -f "wordcount --workers $workers: %e s elapsed, %U s user" \
            "$wordcount" --format tsv --workers "$workers" "$file" >/dev/null
    done
    /usr/bin/time -f "wc -w: %e s elapsed, %U s user" wc -w "$file" >/dev/null
fi
