"""Offline base images into the store: `busybox` from Debian's busybox-static.

    python -m dockyard.image.bootstrap_image --data-root /var/lib/dockyard [--tag busybox:latest]
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
from pathlib import Path

from ..store.archive import write_tree
from .bootstrap import build_busybox_rootfs
from .config import HistoryEntry, RunConfig, new_image_config
from .local import add_layer, register_image
from .platform import host_platform
from .store import ImageStore

PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def bootstrap_busybox(store: ImageStore, tag: str = "busybox:latest") -> str:
    """Build busybox as a one-layer image and tag it; returns the image ID."""
    created = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with tempfile.TemporaryDirectory(prefix="dockyard-busybox-") as tmp:
        rootfs = build_busybox_rootfs(Path(tmp) / "rootfs")
        with store.meta.lease(expires=3600) as lease:
            layer, diff_id = add_layer(store, lambda out: write_tree(rootfs, out), lease)
            platform = host_platform()
            config = new_image_config(
                architecture=platform.architecture, variant=platform.variant,
                diff_ids=[diff_id], created=created,
                config=RunConfig(env=[PATH], cmd=["sh"]),
                history=[
                    HistoryEntry(created=created,
                                 created_by="dockyard bootstrap: Debian busybox-static"),
                    HistoryEntry(created=created, created_by='CMD ["sh"]', empty_layer=True),
                ],
            )
            image = register_image(store, config, [layer], [tag], lease)
    return image.id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="/var/lib/dockyard")
    parser.add_argument("--tag", default="busybox:latest")
    args = parser.parse_args(argv)
    store = ImageStore(args.data_root)
    try:
        print(bootstrap_busybox(store, args.tag))
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
