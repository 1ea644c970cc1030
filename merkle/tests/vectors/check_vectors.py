#!/usr/bin/env python3
"""A second, independent implementation of POUF tuf-mpt-sha256-v1, written from docs/pouf.md
alone (standard library only). It recomputes each vector's root from its leaves and verifies
every proof in it. Usage: check_vectors.py FILE.json ...  Exit status 0 when all check out."""

import hashlib
import json
import sys

E = bytes(32)


def H(b):
    return hashlib.sha256(b).digest()


def bit(k, i):
    return (k[i // 8] >> (7 - i % 8)) & 1


def canonical(contents):
    # OLPC canonical JSON: sorted keys, no white space; the contents hold only ints, strings, true.
    return json.dumps(contents, sort_keys=True, separators=(",", ":")).encode()


def leaf_hash(k, ch):
    return H(b"\x00" + k + ch)


def ih(l, r):
    return H(b"\x01" + l + r)


def tree(leaves, d=0):
    if not leaves:
        return E
    if len(leaves) == 1:
        return leaf_hash(*leaves[0])
    s0 = [x for x in leaves if bit(x[0], d) == 0]
    s1 = [x for x in leaves if bit(x[0], d) == 1]
    return ih(tree(s0, d + 1), tree(s1, d + 1))


def climb(k, h, siblings):
    for i in range(len(siblings) - 1, -1, -1):
        h = ih(h, siblings[i]) if bit(k, i) == 0 else ih(siblings[i], h)
    return h


def read_path(k, proof):
    path, dirs = proof["merkle_path"], proof["path_directions"]
    d = len(path)
    assert len(dirs) == d and d <= 256
    assert sorted(path) == sorted(str(i) for i in range(d))
    siblings = [None] * d
    for j in range(d):
        i = d - 1 - j
        assert dirs[str(j)] == ("right" if bit(k, i) == 0 else "left"), "direction"
        siblings[i] = bytes.fromhex(path[str(j)])
    assert d == 0 or siblings[d - 1] != E, "non-canonical"
    return siblings


def verify_membership(root, proof):
    ((name, contents),) = proof["leaf_contents"].items()
    k = H(name.encode())
    siblings = read_path(k, proof)
    assert climb(k, leaf_hash(k, H(canonical(contents))), siblings) == root, name


def verify_non_membership(root, name, proof):
    assert proof["name"] == name
    k = H(name.encode())
    siblings = read_path(k, proof)
    t = proof["terminal"]
    if t == "empty":
        start = E
    else:
        k2, ch = bytes.fromhex(t["key"]), bytes.fromhex(t["contents_hash"])
        assert k2 != k and all(bit(k2, i) == bit(k, i) for i in range(len(siblings)))
        start = leaf_hash(k2, ch)
    assert climb(k, start, siblings) == root, name


def verify_multi(root, names, proof):
    targets = proof["targets"]
    assert sorted(targets) == sorted(names)
    shape = bytes.fromhex(proof["shape"])
    raw = bytes.fromhex(proof["hashes"])
    hashes = [raw[i:i + 32] for i in range(0, len(raw), 32)]
    ops = [(b >> s) & 3 for b in shape for s in (6, 4, 2, 0)]
    pos = {"op": 0, "h": 0}

    def op():
        o = ops[pos["op"]]
        pos["op"] += 1
        return o

    def h():
        x = hashes[pos["h"]]
        pos["h"] += 1
        return x

    def node(d, q):  # q: list of (key, name, contents or None), non-empty
        o = op()
        if o == 0:
            assert all(c is None for _, _, c in q)
            return E, "empty"
        if o == 1:
            present = [x for x in q if x[2] is not None]
            assert len(present) <= 1
            if present:
                k, _, c = present[0]
                return leaf_hash(k, H(canonical(c))), "leaf"
            k2, ch = h(), h()
            assert all(k2 != k for k, _, _ in q)
            assert all(bit(k2, i) == bit(q[0][0], i) for i in range(d))
            return leaf_hash(k2, ch), "leaf"
        assert o == 2 and d < 256
        h0, k0 = side(d + 1, [x for x in q if bit(x[0], d) == 0])
        h1, k1 = side(d + 1, [x for x in q if bit(x[0], d) == 1])
        assert {k0, k1} not in ({"empty"}, {"empty", "leaf"}), "non-canonical"
        return ih(h0, h1), "interior"

    def side(d, q):
        if q:
            return node(d, q)
        o = op()
        if o == 0:
            return E, "empty"
        assert o == 3
        x = h()
        assert x != E
        return x, "opaque"

    q = sorted((H(n.encode()), n, targets[n]) for n in targets)
    computed, _ = node(0, q)
    used = pos["op"]
    assert len(shape) == (used + 3) // 4 and all(o == 0 for o in ops[used:])
    assert pos["h"] == len(hashes)
    assert computed == root


def check(path):
    with open(path) as f:
        v = json.load(f)
    leaves = [(H(l["name"].encode()), H(canonical(l["contents"]))) for l in v["leaves"]]
    root = bytes.fromhex(v["root"])
    assert tree(leaves) == root, "root"
    for m in v["membership"]:
        verify_membership(root, m)
    for n in v["non_membership"]:
        verify_non_membership(root, n["name"], n["proof"])
    for m in v.get("multi_proofs", []):
        verify_multi(root, m["names"], m["proof"])
    count = len(v["membership"]) + len(v["non_membership"]) + len(v.get("multi_proofs", []))
    print(f"{path}: root and {count} proofs check out")


if __name__ == "__main__":
    for p in sys.argv[1:]:
        check(p)
