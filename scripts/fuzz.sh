#!/usr/bin/env bash
# Builds the fuzz targets of fuzz/ with cargo-fuzz and runs each for a few seconds with its seed
# corpus (fuzz/corpus/<target>) after replaying its recorded findings (fuzz/regressions/<target>).
# Fails on any crash, panic, failed property or oversized allocation. docs/fuzzing.md has the rest.
#
#   scripts/fuzz.sh                         # every target, FUZZ_SECONDS each (default 5)
#   scripts/fuzz.sh multi_proof wal_open    # some targets
#   FUZZ_SECONDS=600 scripts/fuzz.sh        # long runs, by hand
#   FUZZ_RELEASE=1 FUZZ_SECONDS=3600 scripts/fuzz.sh tree_proofs   # optimised build, faster runs
#
# Environment:
#   FUZZ_SECONDS   seconds per target (default 5)
#   FUZZ_RELEASE   1: optimised build (slower cold build, several times more runs per second)
#   FUZZ_KEEP      1: add what the runs find interesting to fuzz/corpus/<target> (for growing
#                  the committed seed corpus; review the diff). Default: a temporary directory.
#   FUZZ_ARGS      extra libFuzzer arguments, e.g. "-jobs=2 -workers=2"
#   CI             true: a missing cargo-fuzz that cannot be installed fails instead of skipping
#
# Works on the stable toolchain: cargo-fuzz's default AddressSanitizer needs `-Zsanitizer`, a
# nightly flag, so the targets are built with `--sanitizer none` (the coverage instrumentation
# is plain -C flags). The crates under test have no unsafe code, so ASan would add little; the
# targets bring their own allocation-size guard (fuzz/src/lib.rs). For an ASan build on this
# stable toolchain anyway: RUSTC_BOOTSTRAP=1 cargo fuzz build --fuzz-dir fuzz (docs/fuzzing.md).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
fuzz_dir="$repo/fuzz"
seconds="${FUZZ_SECONDS:-5}"
cargo_fuzz_version="0.13.2"
started=$SECONDS

fail_or_skip() {
    if [ "${CI:-}" = "true" ]; then
        echo "fuzz: $1 (CI=true: failing)" >&2
        exit 1
    fi
    echo "fuzz: $1; skipping the fuzz targets (set CI=true to fail instead)" >&2
    exit 0
}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz $cargo_fuzz_version"
    cargo install --quiet --locked cargo-fuzz --version "$cargo_fuzz_version" ||
        fail_or_skip "cannot install cargo-fuzz"
fi

profile=(--dev)
profile_dir=debug
if [ "${FUZZ_RELEASE:-0}" = "1" ]; then
    # Debug assertions (and with them overflow checks) stay on in the optimised build.
    profile=(--release --debug-assertions)
    profile_dir=release
fi
build=(--fuzz-dir "$fuzz_dir" --sanitizer none "${profile[@]}")
triple="$(rustc -vV | sed -n 's/^host: //p')"
bin_dir="$fuzz_dir/target/$triple/$profile_dir"

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list --fuzz-dir "$fuzz_dir")
fi

scratch="$(mktemp -d "${TMPDIR:-/tmp}/tuf-fuzz.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

# Only the features the targets need (fuzz/Cargo.toml): the merkle targets alone build without
# the client's and the signer's dependency trees.
features=()
for target in "${targets[@]}"; do
    case "$target" in
    client_*) features+=(client) ;;
    core_*) features+=(core) ;;
    wal_open | checkpoint_decode | target_path | http_batch | proof_request) features+=(signer) ;;
    esac
done
feature_list="$(printf '%s\n' "${features[@]}" | sort -u | paste -sd, -)"
build+=(--no-default-features)
[ -n "$feature_list" ] && build+=(--features "$feature_list")

echo "fuzz: building ${#targets[@]} targets (${profile[*]}, sanitizer none, features: ${feature_list:-none}) in fuzz/target"
build_start=$SECONDS
build_targets=("${targets[@]}")
[ $# -eq 0 ] && build_targets=("")   # all at once
for target in "${build_targets[@]}"; do
    # No incremental compilation data: a fuzz build is rebuilt rarely and whole.
    # shellcheck disable=SC2086 # an empty $target builds every target
    if ! CARGO_INCREMENTAL=0 cargo fuzz build "${build[@]}" $target >"$scratch/build.log" 2>&1; then
        tail -n 60 "$scratch/build.log" >&2
        echo "fuzz: the build failed" >&2
        # A toolchain that cannot build the targets at all is a skip outside CI, like a missing
        # cargo-fuzz; a compile error in the targets fails everywhere.
        grep -q "error\[E[0-9]*\]\|error: could not compile" "$scratch/build.log" && exit 1
        fail_or_skip "cannot build the fuzz targets"
    fi
done
echo "fuzz: built in $((SECONDS - build_start)) s"
export TUF_FUZZ_SCRATCH="$scratch"
artifacts="$fuzz_dir/artifacts"
failed=()
for target in "${targets[@]}"; do
    bin="$bin_dir/$target"
    [ -x "$bin" ] || { echo "fuzz: no binary $bin" >&2; exit 1; }
    seeds="$fuzz_dir/corpus/$target"
    mkdir -p "$seeds" "$artifacts/$target"
    work="$scratch/corpus-$target"
    mkdir -p "$work"
    if [ "${FUZZ_KEEP:-0}" = "1" ]; then
        work="$seeds"
    fi
    dict=()
    case "$target" in
    membership_proof | non_membership_proof | multi_proof | leaf_contents | client_metadata | core_metadata | core_proofs | http_batch | proof_request)
        dict=("-dict=$fuzz_dir/json.dict") ;;
    esac
    log="$scratch/$target.log"
    # Recorded findings first: each must now pass.
    regressions="$fuzz_dir/regressions/$target"
    if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
        if ! "$bin" "$regressions"/* >"$log" 2>&1; then
            tail -n 40 "$log" >&2
            echo "fuzz: $target: a recorded finding fails again" >&2
            failed+=("$target")
            continue
        fi
    fi
    # libFuzzer writes new inputs to the first directory only; the seeds are read. -len_control=10
    # lets inputs grow to the seeds' size quickly, which matters in a run of a few seconds.
    # shellcheck disable=SC2086 # FUZZ_ARGS is split on purpose
    if "$bin" "$work" "$seeds" "${dict[@]}" \
        -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -len_control=10 \
        -print_final_stats=1 -artifact_prefix="$artifacts/$target/" ${FUZZ_ARGS:-} \
        >"$log" 2>&1; then
        runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
        cov="$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)"
        echo "fuzz: $target: ok, ${runs:-?} runs in ${seconds} s (${cov:-cov: ?})"
    else
        tail -n 60 "$log" >&2
        echo "fuzz: $target: FAILED; the input is under $artifacts/$target/" >&2
        echo "fuzz:   replay: $bin $artifacts/$target/<file>" >&2
        failed+=("$target")
    fi
done

echo "fuzz: ${#targets[@]} targets in $((SECONDS - started)) s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: failed: ${failed[*]}" >&2
    exit 1
fi
