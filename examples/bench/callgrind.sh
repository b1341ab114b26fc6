#!/usr/bin/env bash
# Instructions per round trip of the hot paths, counted by callgrind: runs
# `bench --child count KIND N` at N = 100,000 and 200,000 and prints
# (Ir(200k) - Ir(100k)) / 100,000, which cancels setup and teardown.
#
#   examples/bench/callgrind.sh [KIND...]     KIND: yield raw event channel spawn (default: all)
#
# Needs valgrind. Not run by .ci (valgrind is not part of a fresh clone's toolchain).
set -euo pipefail
cd "$(dirname "$0")/../.."

kinds=("$@")
[ ${#kinds[@]} -gt 0 ] || kinds=(yield raw event channel spawn)
small=100000
big=200000

cargo build --release --quiet --example bench
target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
exe="$target/release/examples/bench"

ir() { # ir KIND N: the Ir total of one run under callgrind
  local out
  out=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$exe" --child count "$1" "$2" 2>&1) ||
    { echo "$out" >&2; echo "callgrind.sh: count $1 $2 failed" >&2; exit 1; }
  local n
  n=$(sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' <<<"$out")
  [ -n "$n" ] || { echo "$out" >&2; echo "callgrind.sh: no Ir total for count $1 $2" >&2; exit 1; }
  echo "$n"
}

for k in "${kinds[@]}"; do
  a=$(ir "$k" "$small")
  b=$(ir "$k" "$big")
  awk -v k="$k" -v a="$a" -v b="$b" -v s="$small" -v l="$big" \
    'BEGIN { printf "%-8s %8.2f instructions per round trip  (Ir %d at N=%d, %d at N=%d)\n", k, (b - a) / (l - s), a, s, b, l }'
done
