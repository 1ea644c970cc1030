#!/usr/bin/env python3
"""Writes seeds for the merkle fuzz targets from the POUF test vectors (merkle/tests/vectors).

Every proof of every vector file (a few per file, all of the small ones) in the compact JSON the
signer serves, and the distinct leaf-contents shapes; for `binary_proof`, the binary proofs and
answers of merkle/tests/vectors/binary (POUF §10). Run from anywhere; review and commit
`fuzz/corpus`.
"""
import json
import pathlib

repo = pathlib.Path(__file__).resolve().parents[2]
vectors = repo / "merkle" / "tests" / "vectors"
corpus = repo / "fuzz" / "corpus"
PER_FILE = 4


def write(target, name, value):
    d = corpus / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


for path in sorted(vectors.glob("*.json")):
    v = json.loads(path.read_text())
    stem = path.stem
    for i, p in enumerate(v.get("membership", [])[:PER_FILE]):
        write("membership_proof", f"vector-{stem}-{i}.json", p)
    for i, p in enumerate(v.get("non_membership", [])[:PER_FILE]):
        write("non_membership_proof", f"vector-{stem}-{i}.json", p["proof"])
    for i, p in enumerate(v.get("multi_proofs", [])[:PER_FILE]):
        write("multi_proof", f"vector-{stem}-{i}.json", p["proof"])
    seen = set()
    for leaf in v.get("leaves", []):
        c = leaf["contents"]
        shape = tuple(sorted(c))
        if shape not in seen:
            seen.add(shape)
            write("leaf_contents", f"vector-{stem}-{len(seen)}.json", c)


for path in sorted((vectors / "binary").glob("*.json")):
    v = json.loads(path.read_text())
    d = corpus / "binary_proof"
    d.mkdir(parents=True, exist_ok=True)
    for i, p in enumerate(v.get("proofs", [])):
        (d / f"vector-{path.stem}-{i}.bin").write_bytes(bytes.fromhex(p["hex"]))
    for i, a in enumerate(v.get("answers", [])):
        (d / f"vector-{path.stem}-answer-{i}.bin").write_bytes(bytes.fromhex(a["hex"]))
