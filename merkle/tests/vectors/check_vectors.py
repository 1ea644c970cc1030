#!/usr/bin/env python3
"""A second, independent implementation of POUF tuf-mpt-sha256-v1, written from docs/pouf.md
alone (standard library only). For each vector it recomputes the root from the leaves, verifies
every proof, reads every `accepted` text as the very proof the file lists for the same names,
and refuses every `refused` text under the POUF section the vector names.
Usage: check_vectors.py FILE.json ...  Exit status 0 when all check out."""

import hashlib
import json
import sys

E = bytes(32)
MAX_INT = 2**63 - 1
HEX = set("0123456789abcdef")
LIMITS = {"membership": 65536, "non_membership": 65536, "multi": 64 * 1024 * 1024}  # §7


class Refused(Exception):
    """A proof refused by a rule of POUF section `section`. The rules of §4-§6 also name the
    fault as the reference's tuf_merkle::ProofError does, so that a vector refused for another
    reason than the one it states is noticed."""

    def __init__(self, section, why, fault=None):
        super().__init__(f"§{section}: {why}" + (f" ({fault})" if fault else ""))
        self.section = section
        self.fault = fault


def need(cond, section, why, fault=None):
    # Not `assert`: `python3 -O` would skip every check.
    if not cond:
        raise Refused(section, why, fault)


def H(b):
    return hashlib.sha256(b).digest()


def bit(k, i):
    return (k[i // 8] >> (7 - i % 8)) & 1


def leaf_hash(k, ch):
    return H(b"\x00" + k + ch)


def ih(l, r):
    return H(b"\x01" + l + r)


# §7: JSON as the POUF reads it. Python's json module keeps the last of repeated members, takes
# 1.0 and 1e3 as numbers, and accepts NaN; each hook refuses what the POUF refuses.


def _pairs(items):
    need(len({k for k, _ in items}) == len(items), "7", "a member appears twice in one object")
    return dict(items)


def _float(s):
    raise Refused("2", f"{s} is not written as a plain integer")


def _int(s):
    need(not s.startswith("-"), "2", f"{s}: integers have no sign")
    return int(s)


def _constant(s):
    raise Refused("7", f"{s} is not JSON")


def _utf8(v):
    if isinstance(v, str):
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise Refused("7", "a string with an unpaired surrogate has no UTF-8 form")
    elif isinstance(v, dict):
        for k, x in v.items():
            _utf8(k)
            _utf8(x)
    elif isinstance(v, list):
        for x in v:
            _utf8(x)


def parse(text, limit):
    need(len(text.encode("utf-8")) <= limit, "7", f"over the limit of {limit} bytes")
    try:
        v = json.loads(text, object_pairs_hook=_pairs, parse_float=_float, parse_int=_int,
                       parse_constant=_constant)
    except ValueError as e:  # JSONDecodeError, and ints too long for Python
        raise Refused("7", f"not JSON: {e}")
    _utf8(v)
    return v


def hex_bytes(s, section, what):
    need(isinstance(s, str) and set(s) <= HEX, section, f"{what} is not lowercase hex")
    need(len(s) % 2 == 0, section, f"{what} has an odd number of hex digits")
    return bytes.fromhex(s)


def hex_hash(s, section, what):
    b = hex_bytes(s, section, what)
    need(len(b) == 32, section, f"{what} is not 64 hex digits")
    return b


# §2: leaf contents, and the hash of their canonical form.


def contents_hash(c):
    need(isinstance(c, dict), "2", "leaf contents are an object")
    if "deleted" in c:
        need(set(c) == {"deleted", "version"} and c["deleted"] is True, "2",
             "a tombstone is exactly {version, deleted: true}")
    else:
        need(set(c) == {"hashes", "length", "version"}, "2",
             "present contents are exactly {version, length, hashes}")
        hs = c["hashes"]
        need(isinstance(hs, dict) and set(hs) == {"sha256"}, "2", "hashes is exactly {sha256}")
        hex_hash(hs["sha256"], "2", "sha256")
        need(type(c["length"]) is int and 0 <= c["length"] <= MAX_INT, "2", "length")
    need(type(c["version"]) is int and 1 <= c["version"] <= MAX_INT, "2", "version")
    # OLPC canonical JSON: sorted keys, no white space; these objects hold ints, hex and true.
    return H(json.dumps(c, sort_keys=True, separators=(",", ":")).encode())


# §3: the tree.


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


# §4, §5: single proofs.


def fields(proof, names):
    need(isinstance(proof, dict) and set(proof) == names, "7", f"the members are not {sorted(names)}")


def read_path(k, proof):
    path, dirs = proof["merkle_path"], proof["path_directions"]
    need(isinstance(path, dict) and isinstance(dirs, dict), "7", "path fields are objects")
    d = len(path)
    need(d <= 256 and len(dirs) == d, "7", "at most 256 siblings, one direction each")
    indices = {str(i) for i in range(d)}
    need(set(path) == indices and set(dirs) == indices, "7", "indices are not exactly 0..d-1")
    siblings = [None] * d
    for j in range(d):
        i = d - 1 - j
        need(dirs[str(j)] in ("left", "right"), "7", "a direction is left or right")
        need(dirs[str(j)] == ("right" if bit(k, i) == 0 else "left"), "7", "direction")
        siblings[i] = hex_hash(path[str(j)], "7", f"merkle_path[{j}]")
    need(d == 0 or siblings[d - 1] != E, "4", "the deepest sibling is E", "NonCanonical")
    return siblings


def verify_membership(root, asked, proof):
    fields(proof, {"leaf_contents", "merkle_path", "path_directions"})
    lc = proof["leaf_contents"]
    need(isinstance(lc, dict) and len(lc) == 1, "7", "leaf_contents has exactly one entry")
    ((name, c),) = lc.items()
    ch = contents_hash(c)
    k = H(name.encode())
    siblings = read_path(k, proof)
    need(name == asked, "4", f"a proof about {name!r}, not {asked!r}", "WrongNames")
    need(climb(k, leaf_hash(k, ch), siblings) == root, "4", "root", "RootMismatch")


def verify_non_membership(root, asked, proof):
    fields(proof, {"name", "merkle_path", "path_directions", "terminal"})
    name = proof["name"]
    need(isinstance(name, str), "7", "name is a string")
    k = H(name.encode())
    siblings = read_path(k, proof)
    t = proof["terminal"]
    if t != "empty":
        need(isinstance(t, dict) and set(t) == {"contents_hash", "key"}, "7",
             "terminal is \"empty\" or {key, contents_hash}")
        t = (hex_hash(t["key"], "7", "key"), hex_hash(t["contents_hash"], "7", "contents_hash"))
    need(name == asked, "5", f"a proof about {name!r}, not {asked!r}", "WrongNames")
    if t == "empty":
        start = E
    else:
        k2, ch = t
        need(k2 != k and all(bit(k2, i) == bit(k, i) for i in range(len(siblings))), "5",
             "the terminal leaf is the name's own or off its path", "TerminalOffPath")
        start = leaf_hash(k2, ch)
    need(climb(k, start, siblings) == root, "5", "root", "RootMismatch")


# §6: multi-proofs. The names are deliberately not sorted: the walk depends on their set only.


def verify_multi(root, asked, proof):
    fields(proof, {"hashes", "shape", "targets"})
    targets = proof["targets"]
    need(isinstance(targets, dict), "7", "targets is an object")
    q = [(H(n.encode()), n, None if c is None else contents_hash(c)) for n, c in targets.items()]
    shape = hex_bytes(proof["shape"], "7", "shape")
    raw = hex_bytes(proof["hashes"], "7", "hashes")
    need(len(raw) % 32 == 0, "7", "hashes is a multiple of 64 hex digits")
    hashes = [raw[i:i + 32] for i in range(0, len(raw), 32)]
    need(len(targets) >= 1, "6", "at least one name", "NoNames")
    need(set(targets) == set(asked), "6", "not the names asked", "WrongNames")
    ops = [(b >> s) & 3 for b in shape for s in (6, 4, 2, 0)]
    pos = {"op": 0, "h": 0}

    def op():
        need(pos["op"] < len(ops), "6", "the shape ends too early", "ShapeTruncated")
        pos["op"] += 1
        return ops[pos["op"] - 1]

    def h():
        need(pos["h"] < len(hashes), "6", "too few hashes", "HashesTruncated")
        pos["h"] += 1
        return hashes[pos["h"] - 1]

    def node(d, q):  # q: the (key, name, H(c) or None) that lead here, non-empty
        o = op()
        if o == 0:  # EMPTY
            need(all(ch is None for _, _, ch in q), "6", "EMPTY where a name has a leaf", "MissingLeaf")
            return E, "empty"
        if o == 1:  # LEAF
            present = [x for x in q if x[2] is not None]
            need(len(present) <= 1, "6", "two names with leaves at one LEAF", "MissingLeaf")
            if present:
                k, _, ch = present[0]
                return leaf_hash(k, ch), "leaf"
            k2, ch = h(), h()
            need(all(k2 != k for k, _, _ in q), "6", "another leaf with a name's own key",
                 "TerminalOffPath")
            need(all(bit(k2, i) == bit(q[0][0], i) for i in range(d)), "6",
                 "another leaf off the names' path", "TerminalOffPath")
            return leaf_hash(k2, ch), "leaf"
        need(o == 2, "6", "HASH where a name's path goes", "NonCanonical")
        need(d < 256, "6", "SPLIT at depth 256", "PathTooLong")
        h0, k0 = side(d + 1, [x for x in q if bit(x[0], d) == 0])
        h1, k1 = side(d + 1, [x for x in q if bit(x[0], d) == 1])
        # Any EMPTY counts as E here, whether it proves names absent or has no names.
        need({k0, k1} not in ({"empty"}, {"empty", "leaf"}), "6", "non-canonical SPLIT",
             "NonCanonical")
        return ih(h0, h1), "interior"

    def side(d, q):
        if q:
            return node(d, q)
        o = op()
        if o == 0:
            return E, "empty"
        need(o == 3, "6", "a side with no names is EMPTY or HASH", "NonCanonical")
        x = h()
        need(x != E, "6", "HASH of E", "NonCanonical")
        return x, "opaque"

    computed, _ = node(0, q)
    used = pos["op"]
    need(len(shape) == (used + 3) // 4, "6", "shape bytes left over", "Leftover")
    need(all(o == 0 for o in ops[used:]), "6", "shape bits left over", "Leftover")
    need(pos["h"] == len(hashes), "6", "hashes left over", "Leftover")
    need(computed == root, "6", "root", "RootMismatch")


VERIFY = {"membership": verify_membership, "non_membership": verify_non_membership,
          "multi": verify_multi}


def fail(why):
    raise AssertionError(why)


def check(path):
    with open(path, encoding="utf-8") as f:
        v = parse(f.read(), float("inf"))
    leaves = [(H(l["name"].encode()), contents_hash(l["contents"])) for l in v["leaves"]]
    root = bytes.fromhex(v["root"])
    if tree(leaves) != root:
        fail(f"{path}: root")
    # The canonical proofs, by kind and the names they are about.
    listed = {}
    for m in v["membership"]:
        ((name, _),) = m["leaf_contents"].items()
        verify_membership(root, name, m)
        listed["membership", name] = m
    for n in v["non_membership"]:
        verify_non_membership(root, n["name"], n["proof"])
        listed["non_membership", n["name"]] = n["proof"]
    for m in v["multi_proofs"]:
        verify_multi(root, m["names"], m["proof"])
        listed["multi", frozenset(m["names"])] = m["proof"]

    def about(e):
        return e["asked"] if e["kind"] != "multi" else frozenset(e["asked"])

    for e in v.get("accepted", []):
        proof = parse(e["text"], LIMITS[e["kind"]])
        VERIFY[e["kind"]](root, e["asked"], proof)
        if proof != listed.get((e["kind"], about(e))):
            fail(f"{path}: accepted text is not the proof listed: {e['why']}")
    for e in v.get("refused", []):
        try:
            VERIFY[e["kind"]](root, e["asked"], parse(e["text"], LIMITS[e["kind"]]))
        except Refused as r:
            if r.section != e["section"] or (r.fault or e["error"]) != e["error"]:
                fail(f"{path}: {e['why']}: refused by {r}, the vector says §{e['section']} "
                     f"({e['error']})")
        else:
            fail(f"{path}: accepted: {e['why']}")
    count = len(v["membership"]) + len(v["non_membership"]) + len(v["multi_proofs"])
    extra = len(v.get("accepted", [])) + len(v.get("refused", []))
    more = f" (and {extra} other texts)" if extra else ""
    print(f"{path}: root and {count} proofs{more} check out")


if __name__ == "__main__":
    for p in sys.argv[1:]:
        check(p)
