#!/usr/bin/env python3
"""A second implementation of the binary encoding of POUF tuf-mpt-sha256-v1 (docs/pouf.md §10),
written from the document (standard library only). It decodes every binary proof of a vector
into the JSON form of §4-§6, which must be the vector's `json`, and verifies it with
check_vectors.py's verifiers; decodes every answer; and refuses every `refused` byte string
under the section and fault the vector names.
Usage: check_binary.py FILE.json ...  Exit status 0 when all check out."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import check_vectors as pouf  # noqa: E402  (§2-§7: contents, tree, verifiers)
from check_vectors import Refused, need, H, bit, E  # noqa: E402

MAGIC, ANSWER_MAGIC, FORMAT = b"TMP", b"TMA", 1
KINDS = {1: "membership", 2: "non_membership", 3: "multi"}
LIMITS = {"membership": 16384, "non_membership": 16384, "multi": 64 * 1024 * 1024}


class Bytes:
    """A cursor that refuses to read past the end (fault Truncated)."""

    def __init__(self, b):
        self.b, self.at = b, 0

    def take(self, n, what):
        need(self.at + n <= len(self.b), "10", f"ends inside {what}", "Truncated")
        self.at += n
        return self.b[self.at - n:self.at]

    def int(self, size, what):
        return int.from_bytes(self.take(size, what), "little")

    def rest(self):
        return self.b[self.at:]


def name(r):
    raw = r.take(r.int(2, "a name's length"), "a name")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("10", "a name is not UTF-8", "NotUtf8")


def contents(r, allow_absent):
    tag = r.int(1, "leaf contents")
    if tag == 0:
        version, length = r.int(8, "a version"), r.int(8, "a length")
        return {"hashes": {"sha256": r.take(32, "a sha256").hex()}, "length": length,
                "version": version}
    if tag == 1:
        return {"deleted": True, "version": r.int(8, "a version")}
    need(tag == 2 and allow_absent, "10", f"contents tag {tag}", "BadTag")
    return None


def path(r, k):
    """merkle_path and path_directions (§4) for key k from the depth, bitmap and hashes."""
    d = r.int(2, "the depth")
    need(d <= 256, "10", "a depth over 256", "PathTooLong")
    bitmap = r.take((d + 7) // 8, "the bitmap")
    empty = [bit(bitmap, i) == 1 for i in range(d)]
    need(all(bit(bitmap, i) == 0 for i in range(d, 8 * len(bitmap))), "10",
         "bitmap bits past the depth", "NonCanonical")
    need(d == 0 or not empty[d - 1], "10", "the deepest sibling marked empty", "NonCanonical")
    siblings = []
    for i in range(d):
        if empty[i]:
            siblings.append(E)
            continue
        s = r.take(32, "the siblings")
        need(s != E, "10", "an empty sibling written out", "NonCanonical")
        siblings.append(s)
    return ({str(j): siblings[d - 1 - j].hex() for j in range(d)},
            {str(j): "left" if bit(k, d - 1 - j) else "right" for j in range(d)})


def header(r, kinds):
    need(r.b[:3] == MAGIC, "10", "no magic", "BadMagic")
    r.take(3, "the magic")
    need(r.int(1, "the format") == FORMAT, "10", "another format", "UnsupportedFormat")
    kind = r.int(1, "the kind")
    need(kind in kinds, "10", f"kind {kind}", "WrongKind")
    return KINDS[kind]


def decode(kind, b):
    """The JSON form of the binary proof `b`, read as a proof of `kind`."""
    need(len(b) <= LIMITS[kind], "10", "over the limit", "TooLarge")
    r = Bytes(b)
    wanted = {"membership": [1], "non_membership": [2], "multi": [3]}[kind]
    header(r, wanted)
    if kind == "multi":
        count = r.int(4, "the number of names")
        need(count >= 1, "10", "no names", "NoNames")
        # Three bytes per entry at least: a count the bytes left cannot hold is refused first.
        need(3 * count <= len(r.rest()), "10", "more names than bytes", "Truncated")
        targets, last = {}, None
        for _ in range(count):
            n = name(r)
            k = H(n.encode())
            need(last is None or k != last, "10", "a name twice", "DuplicateName")
            need(last is None or k > last, "10", "names out of key order", "NonCanonical")
            last = k
            targets[n] = contents(r, True)
        shape = r.take(r.int(4, "the shape's length"), "the shape")
        hashes = r.take(32 * r.int(4, "the number of hashes"), "the hashes")
        proof = {"hashes": hashes.hex(), "shape": shape.hex(), "targets": targets}
    else:
        n = name(r)
        k = H(n.encode())
        if kind == "membership":
            c = contents(r, False)
            mp, pd = path(r, k)
            proof = {"leaf_contents": {n: c}, "merkle_path": mp, "path_directions": pd}
        else:
            mp, pd = path(r, k)
            t = r.int(1, "the terminal")
            need(t in (0, 1), "10", f"terminal tag {t}", "BadTag")
            terminal = "empty" if t == 0 else {
                "key": r.take(32, "the terminal's key").hex(),
                "contents_hash": r.take(32, "the terminal's contents hash").hex()}
            proof = {"name": n, "merkle_path": mp, "path_directions": pd, "terminal": terminal}
    need(not r.rest(), "10", "bytes after the proof", "TrailingData")
    return proof


def decode_answer(b):
    r = Bytes(b)
    need(b[:3] == ANSWER_MAGIC, "10", "no magic", "BadMagic")
    r.take(3, "the magic")
    need(r.int(1, "the format") == FORMAT, "10", "another format", "UnsupportedFormat")
    n = r.int(1, "the role's length")
    need(n >= 1, "10", "an empty role", "Malformed")
    role = r.take(n, "the role").decode("utf-8")
    version = r.int(8, "the timestamp version")
    root = r.take(32, "the merkle root").hex()
    return {"role": role, "timestamp_version": version, "merkle_root": root}, r.rest()


def fail(why):
    raise AssertionError(why)


def check(path_):
    with open(path_, encoding="utf-8") as f:
        v = pouf.parse(f.read(), float("inf"))
    leaves = [(H(l["name"].encode()), pouf.contents_hash(l["contents"])) for l in v["leaves"]]
    root = bytes.fromhex(v["root"])
    if pouf.tree(leaves) != root:
        fail(f"{path_}: root")
    for e in v["proofs"]:
        b = bytes.fromhex(e["hex"])
        proof = decode(e["kind"], b)
        if proof != e["json"]:
            fail(f"{path_}: {e['asked']}: decodes to {proof}, not {e['json']}")
        pouf.VERIFY[e["kind"]](root, e["asked"], proof)
        if len(b) != e["length"]:
            fail(f"{path_}: {e['asked']}: length")
    for e in v.get("answers", []):
        head, proof = decode_answer(bytes.fromhex(e["hex"]))
        if dict(head, proof=decode(e["kind"], proof)) != e["json"]:
            fail(f"{path_}: answer for {e['asked']}")
    for e in v.get("refused", []):
        try:
            pouf.VERIFY[e["kind"]](root, e["asked"], decode(e["kind"], bytes.fromhex(e["hex"])))
        except Refused as r:
            if r.section != e["section"] or (r.fault or e["error"]) != e["error"]:
                fail(f"{path_}: {e['why']}: refused by {r}, the vector says §{e['section']} "
                     f"({e['error']})")
        else:
            fail(f"{path_}: accepted: {e['why']}")
    extra = len(v.get("answers", [])) + len(v.get("refused", []))
    more = f" (and {extra} answers and refused byte strings)" if extra else ""
    print(f"{path_}: root and {len(v['proofs'])} binary proofs{more} check out")


if __name__ == "__main__":
    for p in sys.argv[1:]:
        check(p)
