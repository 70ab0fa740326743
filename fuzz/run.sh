#!/usr/bin/env bash
# Runs every fuzz target of tidelog for SECONDS each (default 30), one after the other, and
# prints one line per target with its executions, then a total. Exits non-zero if any
# target crashed (the input is saved under fuzz/artifacts/<target>/) or failed to build.
#
#   bash fuzz/run.sh [SECONDS] [TARGET...]
#
# - Installs cargo-fuzz (`cargo install cargo-fuzz --locked`) if `cargo fuzz` is missing.
# - Works on a stable toolchain (the default one; FUZZ_TOOLCHAIN=nightly picks another
#   rustup toolchain): targets are built with `--sanitizer none`, so no nightly is needed.
#   That also turns off libFuzzer's malloc limit; each target bounds its own allocations
#   instead (fuzz/src/lib.rs: 256 MiB per allocation, 512 MiB live).
# - libFuzzer adds new inputs to its first corpus directory, so each run works on a
#   temporary copy of fuzz/corpus/<target>/ (plus fuzz/regressions/<target>/): the committed
#   seeds stay as they are. FUZZ_KEEP_CORPUS=1 keeps the copies and prints where they are.
# - Builds go to fuzz/target (git-ignored), whatever CARGO_TARGET_DIR says.
set -euo pipefail

seconds="${1:-30}"
shift || true
case "$seconds" in
'' | *[!0-9]*)
	echo "usage: $0 [SECONDS] [TARGET...]" >&2
	exit 2
	;;
esac

fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$fuzz_dir")"
cargo=(cargo)
toolchain="default toolchain"
if [ -n "${FUZZ_TOOLCHAIN:-}" ]; then
	cargo=(cargo "+$FUZZ_TOOLCHAIN")
	toolchain="$FUZZ_TOOLCHAIN"
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
	echo "cargo-fuzz is not installed: cargo install cargo-fuzz --locked" >&2
	start=$(date +%s)
	cargo install cargo-fuzz --locked
	echo "cargo-fuzz installed in $(($(date +%s) - start)) s" >&2
fi

# Per-target libFuzzer options: batch, legacy, decompress and recovery take segment-sized
# inputs; ops takes at most 64 operations.
max_len() {
	case "$1" in
	batch | legacy | decompress | recovery) echo 65536 ;;
	ops) echo 256 ;;
	varint) echo 64 ;;
	*) echo 4096 ;;
	esac
}

if [ "$#" -gt 0 ]; then
	targets=("$@")
else
	targets=()
	for f in "$fuzz_dir"/fuzz_targets/*.rs; do
		targets+=("$(basename "$f" .rs)")
	done
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/tidelog-fuzz.XXXXXX")"
cleanup() {
	if [ "${FUZZ_KEEP_CORPUS:-0}" = 1 ]; then
		echo "corpora and logs kept in $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

unset CARGO_TARGET_DIR
build_opts=(--sanitizer none --target-dir "$fuzz_dir/target")
cd "$root"
echo "building fuzz targets ($toolchain, --sanitizer none)..." >&2
start=$(date +%s)
if ! "${cargo[@]}" fuzz build "${build_opts[@]}" >"$work/build.log" 2>&1; then
	cat "$work/build.log" >&2
	exit 1
fi
echo "built in $(($(date +%s) - start)) s" >&2

failed=()
total=0
summary=()
for t in "${targets[@]}"; do
	corpus="$work/corpus/$t"
	mkdir -p "$corpus"
	for src in "$fuzz_dir/corpus/$t" "$fuzz_dir/regressions/$t"; do
		if [ -d "$src" ]; then
			find "$src" -maxdepth 1 -type f ! -name '.*' -exec cp {} "$corpus"/ \;
		fi
	done
	mkdir -p "$fuzz_dir/artifacts/$t"
	log="$work/$t.log"
	echo "fuzzing $t for ${seconds}s..." >&2
	status=0
	"${cargo[@]}" fuzz run "${build_opts[@]}" "$t" "$corpus" -- \
		-max_total_time="$seconds" \
		-rss_limit_mb=2048 \
		-max_len="$(max_len "$t")" \
		-timeout=20 \
		-print_final_stats=1 \
		>"$log" 2>&1 || status=$?
	# The final stats line; a crash may cut it off, then the last "#N" status line counts.
	execs=$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*\([0-9]*\).*/\1/p' "$log" | tail -n 1)
	if [ -z "$execs" ]; then
		execs=$(grep -o '^#[0-9]*' "$log" | tail -n 1 | tr -d '#' || true)
	fi
	execs="${execs:-0}"
	secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
	corpus_size=$(find "$corpus" -type f | wc -l)
	total=$((total + execs))
	if [ "$status" -ne 0 ]; then
		failed+=("$t")
		artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
		line=$(printf '%-12s FAILED (exit %s) after %s executions: %s' \
			"$t" "$status" "$execs" "${artifact:-no input saved, see the log}")
		echo "---- $t: from the libFuzzer log ($log) ----" >&2
		first=$(grep -n -m 1 -E 'panicked at|memory allocation of|ERROR: libFuzzer|^error' "$log" |
			cut -d: -f1 || true)
		if [ -n "$first" ]; then
			sed -n "${first},$((first + 40))p" "$log" >&2
		else
			tail -n 40 "$log" >&2
		fi
		FUZZ_KEEP_CORPUS=1
	else
		line=$(printf '%-12s %12s executions in %ss, corpus %s inputs' \
			"$t" "$execs" "${secs:-$seconds}" "$corpus_size")
	fi
	summary+=("$line")
	echo "$line" >&2
done

echo
echo "fuzz summary (${seconds}s per target):"
for line in "${summary[@]}"; do
	echo "  $line"
done
printf '  %-12s %12s executions\n' total "$total"
if [ "${#failed[@]}" -gt 0 ]; then
	echo "CRASHED: ${failed[*]} (inputs under fuzz/artifacts/<target>/)"
	exit 1
fi
