"""Loads a tuf-signer role with python-tuf's ngclient Updater, as an unmodified TUF client would.

Usage: ngclient.py WORK_DIR ROOT_JSON METADATA_URL [TARGET_NAME]

Trusts ROOT_JSON (the role's 1.root.json, passed as python-tuf 7's `bootstrap`), refreshes (root chain, timestamp, snapshot, targets),
prints one JSON line with the trusted timestamp's version and its merkle_root (if any), and, when
TARGET_NAME is given, downloads and verifies that target and prints its bytes as hex.
Exit status 0 only if every step verified.
"""

import json
import os
import sys

from tuf.api.metadata import Metadata, Timestamp
from tuf.ngclient import Updater


def main() -> int:
    work, root_json, url = sys.argv[1], sys.argv[2], sys.argv[3].rstrip("/")
    target = sys.argv[4] if len(sys.argv) > 4 else None
    metadata_dir = os.path.join(work, "metadata")
    target_dir = os.path.join(work, "targets")
    os.makedirs(metadata_dir, exist_ok=True)
    os.makedirs(target_dir, exist_ok=True)
    with open(root_json, "rb") as f:
        bootstrap = f.read()
    updater = Updater(
        bootstrap=bootstrap,
        metadata_dir=metadata_dir,
        metadata_base_url=url + "/",
        target_base_url=url + "/targets/",
        target_dir=target_dir,
    )
    updater.refresh()
    with open(os.path.join(metadata_dir, "timestamp.json"), "rb") as f:
        timestamp = Metadata[Timestamp].from_bytes(f.read())
    out = {
        "timestamp_version": timestamp.signed.version,
        "merkle_root": timestamp.signed.unrecognized_fields.get("merkle_root"),
        "snapshot_version": timestamp.signed.snapshot_meta.version,
    }
    if target is not None:
        info = updater.get_targetinfo(target)
        if info is None:
            print(f"target {target} not found", file=sys.stderr)
            return 1
        path = updater.download_target(info)
        with open(path, "rb") as f:
            out["target_hex"] = f.read().hex()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
