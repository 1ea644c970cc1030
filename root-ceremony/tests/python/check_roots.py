"""Checks root chains made by tuf-ceremony with python-tuf, as an unmodified TUF client would.

Usage: check_roots.py REPO_DIR WORK_DIR

REPO_DIR holds one role's repository: 1.root.json … N.root.json, timestamp.json and the
consistent-snapshot snapshot and targets files. For each step K -> K+1 the new root must verify
under root K's threshold and its own (`verify_delegate`); then ngclient's Updater, trusting only
1.root.json, refreshes through the whole chain (reading files through a local fetcher, no network)
and must end on root N. Prints one JSON line; exit status 0 only if everything verified.
"""

import json
import os
import shutil
import sys

from tuf.api.exceptions import DownloadHTTPError
from tuf.api.metadata import Metadata, Root
from tuf.ngclient import Updater
from tuf.ngclient.fetcher import FetcherInterface

BASE = "http://repo.invalid/"


class LocalFetcher(FetcherInterface):
    """Serves BASE/<name> from a directory; a missing file is a 404, as on a web server."""

    def __init__(self, directory):
        self.directory = directory

    def _fetch(self, url):
        if not url.startswith(BASE):
            raise DownloadHTTPError(f"unexpected URL {url}", 404)
        path = os.path.join(self.directory, url[len(BASE):])
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise DownloadHTTPError(f"{url} not found", 404)
        return iter([data])


def main() -> int:
    repo, work = sys.argv[1], sys.argv[2]
    versions = sorted(
        int(n.split(".")[0]) for n in os.listdir(repo) if n.endswith(".root.json")
    )
    roots = [Metadata[Root].from_file(os.path.join(repo, f"{v}.root.json")) for v in versions]
    roots[0].signed.verify_delegate(Root.type, roots[0].signed_bytes, roots[0].signatures)
    for prev, new in zip(roots, roots[1:]):
        assert new.signed.version == prev.signed.version + 1
        prev.signed.verify_delegate(Root.type, new.signed_bytes, new.signatures)
        new.signed.verify_delegate(Root.type, new.signed_bytes, new.signatures)
    metadata_dir = os.path.join(work, "metadata")
    os.makedirs(metadata_dir, exist_ok=True)
    shutil.copyfile(os.path.join(repo, "1.root.json"), os.path.join(metadata_dir, "root.json"))
    updater = Updater(
        metadata_dir=metadata_dir,
        metadata_base_url=BASE,
        target_base_url=BASE + "targets/",
        target_dir=os.path.join(work, "targets"),
        fetcher=LocalFetcher(repo),
    )
    updater.refresh()
    trusted = Metadata[Root].from_file(os.path.join(metadata_dir, "root.json"))
    print(json.dumps({"roots": versions, "trusted_root_version": trusted.signed.version}))
    return 0 if trusted.signed.version == versions[-1] else 1


if __name__ == "__main__":
    sys.exit(main())
