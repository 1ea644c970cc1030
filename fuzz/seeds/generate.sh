#!/usr/bin/env bash
# Regenerates the "real output" seeds of fuzz/corpus/ from a tuf-signer run: a few targets
# published to a merkle role (crates.io layout) and a classic role, one deleted; then the
# signed metadata, proof answers (single and multi), the write-ahead log and a checkpoint the
# signer itself wrote. The merkle seeds from merkle/tests/vectors are written by
# fuzz/seeds/vectors.py. Needs curl and jq; builds tuf-signer (debug) if needed.
#
#   fuzz/seeds/generate.sh         # then review `git status fuzz/corpus` and commit
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
corpus="$repo/fuzz/corpus"
fixtures="$repo/fuzz/fixtures"
cargo build -q -p tuf-signer --bin tuf-signer
cargo build -q -p tuf-client --bin tuf-verify
signer="$repo/target/debug/tuf-signer"
verify="$repo/target/debug/tuf-verify"

tmp="$(mktemp -d)"
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

port=$((20000 + RANDOM % 20000))
cat > "$tmp/signer.toml" <<TOML
mode = "development"
data_dir = "$tmp/data"
listen = "127.0.0.1:$port"
[roles."crates.io"]
snapshot = "merkle"
layout = "crates-index"
checkpoint_every = 6
batch = { max_changes = 1000, max_delay_ms = 2 }
[roles.releases]
snapshot = "classic"
batch = { max_changes = 1000, max_delay_ms = 2 }
TOML
"$signer" serve --config "$tmp/signer.toml" >"$tmp/signer.log" 2>&1 &
pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 100); do
    curl -fsS "$base/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "$base/healthz" >/dev/null

put() { # role name bytes
    curl -fsS -X PUT -H "Authorization: Bearer $(cat "$tmp/data/dev-tokens/$1")" \
        -H 'Content-Type: application/octet-stream' --data-binary "$3" \
        "$base/api/v1/$1/targets/$2?wait=signed" >/dev/null
}
del() {
    curl -fsS -X DELETE -H "Authorization: Bearer $(cat "$tmp/data/dev-tokens/$1")" \
        "$base/api/v1/$1/targets/$2?wait=signed" >/dev/null
}
i=0
for name in se/rd/serde 3/s/syn 1/a 2/ab to/ki/tokio config.json; do
    i=$((i + 1))
    put crates.io "$name" "{\"name\":\"$name\",\"vers\":\"1.0.$i\"}"
done
put crates.io se/rd/serde '{"name":"serde","vers":"1.0.200"}'   # version 2
del crates.io 1/a                                                 # a tombstone
put crates.io ra/nd/rand '{"name":"rand","vers":"0.9.0"}'         # after the checkpoint
put releases "rust-1.95.0.tar.gz" "release bytes"
put releases "dist/channel.toml" "channel"

mkdir -p "$corpus"/{membership_proof,non_membership_proof,multi_proof,leaf_contents}
mkdir -p "$corpus"/{client_metadata,client_refresh,wal_open,checkpoint_decode,target_path} "$fixtures"
n=0
for name in se/rd/serde 3/s/syn 1/a ab/se/absent zz/zz/zzzz; do
    n=$((n + 1))
    curl -fsS "$base/api/v1/crates.io/proof/$name" -o "$tmp/answer.json"
    # The proof alone, as the merkle parsers read it.
    if jq -e '.proof.leaf_contents' "$tmp/answer.json" >/dev/null; then
        jq -cj .proof "$tmp/answer.json" > "$corpus/membership_proof/signer-$n.json"
        jq -cj '.proof.leaf_contents[]' "$tmp/answer.json" > "$corpus/leaf_contents/signer-$n.json"
    else
        jq -cj .proof "$tmp/answer.json" > "$corpus/non_membership_proof/signer-$n.json"
    fi
done
curl -fsS -X POST -H 'Content-Type: application/json' \
    --data '{"names":["se/rd/serde","3/s/syn","1/a","ab/se/absent","config.json"]}' \
    "$base/api/v1/crates.io/proofs" -o "$tmp/multi.json"
jq -cj .proof "$tmp/multi.json" > "$corpus/multi_proof/signer-1.json"

# client_metadata reads a step byte (fuzz_targets/client_metadata.rs), then the file.
r="$tmp/data/repo"
seed() { { printf "\\$(printf '%03o' "$1")"; cat "$2"; } > "$corpus/client_metadata/$3"; }
snap="$(ls "$r/releases/"*.snapshot.json | sort -V | tail -1)"
targ="$(ls "$r/releases/"*.targets.json | sort -V | tail -1)"
seed 0 "$r/crates.io/1.root.json" initial-root.json
seed 1 "$r/crates.io/1.root.json" next-root-merkle.json
seed 2 "$r/releases/1.root.json" next-root-classic.json
seed 3 "$r/crates.io/timestamp.json" timestamp-merkle.json
seed 4 "$r/releases/timestamp.json" timestamp-classic.json
seed 5 "$snap" snapshot.json
seed 6 "$targ" targets.json
# An auditor's attestation of the merkle role (tuf-verify audit), and change records with
# their signed timestamps resolved, as audit::Replay reads them (ChangeRecord).
"$verify" auditor-key --key "$tmp/auditor.pem" >/dev/null
"$verify" audit --repo "$base" --role crates.io --root "$r/crates.io/1.root.json" \
    --attest-key "$tmp/auditor.pem" --attest-out "$tmp/attestation.json" >/dev/null
seed 7 "$tmp/attestation.json" attestation.json
for v in 1 2; do
    jq -c --slurpfile ts "$r/crates.io/timestamps/$v.timestamp.json" \
        'del(.timestamp_file, .timestamp_length, .timestamp_sha256) + {timestamp: $ts[0]}' \
        "$r/crates.io/changes/$v.json" > "$tmp/record.json"
    seed 8 "$tmp/record.json" "change-record-$v.json"
done
# core_metadata reads the same files through the verifier core alone (fuzz_targets/
# core_metadata.rs: the same step numbers 0 to 7; 7 reads a root as a document signed by keys
# the caller trusts).
mkdir -p "$corpus/core_metadata"
for f in initial-root next-root-merkle next-root-classic timestamp-merkle timestamp-classic \
    snapshot targets attestation; do
    cp "$corpus/client_metadata/$f.json" "$corpus/core_metadata/$f.json"
done
seed 7 "$r/crates.io/1.root.json" ../core_metadata/root-as-signed-document.json
# The trusted root the client_metadata target checks the other files against.
cp "$r/crates.io/1.root.json" "$fixtures/crates.io.1.root.json"
cp "$r/releases/1.root.json" "$fixtures/releases.1.root.json"

# The log and the checkpoint while the signer runs (every append is fsynced before it is
# acknowledged; a shutdown would checkpoint and empty the log).
state="$tmp/data/state/crates.io"
[ -s "$state/wal.log" ] && [ -s "$state/checkpoint.bin" ] || {
    ls -lR "$tmp/data/state" >&2; echo "no WAL or checkpoint found" >&2; exit 1; }
cp "$state/wal.log" "$tmp/wal.log"
cp "$state/checkpoint.bin" "$tmp/checkpoint.bin"
cp "$tmp/checkpoint.bin" "$corpus/checkpoint_decode/signer.bin"
# wal_open reads a mode byte (0: the log as is), the checkpoint's 8-byte little-endian sequence
# number (bytes 8..16 of the checkpoint), then the log.
{ printf '\0'; head -c 16 "$tmp/checkpoint.bin" | tail -c 8; cat "$tmp/wal.log"; } \
    > "$corpus/wal_open/signer.bin"
# core_proofs builds its own tree and signs its own timestamp: its seeds name proofs of that
# tree (mode 2: a single proof, mode 3: a multi-proof of a mask of names, untampered), and
# carry the signer's proofs above as raw input (mode 0 and 1: another tree, which must not
# verify). fuzz_targets/core_proofs.rs describes the bytes.
mkdir -p "$corpus/core_proofs"
for i in $(seq 0 19); do
    printf "\\002\\$(printf '%03o' "$i")\\0\\0\\0" > "$corpus/core_proofs/single-$(printf '%02d' "$i").bin"
done
printf '\003\377\377\017\0' > "$corpus/core_proofs/multi-all.bin"
printf '\003\377\017\0\0' > "$corpus/core_proofs/multi-present.bin"
printf '\003\0\200\017\0' > "$corpus/core_proofs/multi-absent.bin"
printf '\003\252\252\012\0' > "$corpus/core_proofs/multi-mixed.bin"
printf '\002\0\0\0\0\0\050\001' > "$corpus/core_proofs/single-tampered.bin"
printf '\003\377\017\0\0\0\132\004' > "$corpus/core_proofs/multi-tampered.bin"
for f in "$corpus"/membership_proof/signer-*.json; do
    { printf '\0\377\0\0\0'; cat "$f"; } > "$corpus/core_proofs/raw-$(basename "$f")"
done
for f in "$corpus"/non_membership_proof/signer-*.json; do
    { printf '\0\377\0\0\0'; cat "$f"; } > "$corpus/core_proofs/raw-non-$(basename "$f")"
done
{ printf '\001\0\200\0\0'; cat "$corpus/multi_proof/signer-1.json"; } \
    > "$corpus/core_proofs/raw-multi-signer-1.json"

kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
echo "seeds written under $corpus"
