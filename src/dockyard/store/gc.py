"""Garbage collection: keep what images, containers, the build cache and leases reach.

Theory of operation. Roots are read from metadata.db in one transaction: every image
record (tagged or dangling: removing an image record is ``rmi``/``prune``'s decision, not
GC's), containers and build-cache entries, and the resources of unexpired leases. Marking
follows content references (index -> manifests -> config and layers) through a resolver the
image layer provides, and snapshot parents through metadata. Sweeping removes what was
*listed before the roots were read* and is not marked: anything created during a GC run is
not a candidate, and anything created before it was already leased (writers lease a digest
before renaming it into place, snapshots are leased in the transaction that creates them).

``mark()`` is pure; ``collect()`` wires it to the stores.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .content import ContentStore
from .errors import InUse, NotFound
from .metadata import MetadataStore
from .snapshots import Snapshotter

# A resolver: the digests a blob refers to (none for layers and configs).
References = Callable[[str], Iterable[str]]


@dataclass
class Roots:
    content: set[str] = field(default_factory=set)
    snapshots: set[str] = field(default_factory=set)
    ingests: set[str] = field(default_factory=set)


@dataclass
class Marked:
    content: set[str] = field(default_factory=set)
    snapshots: set[str] = field(default_factory=set)


@dataclass
class GCResult:
    blobs: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    ingests: list[str] = field(default_factory=list)
    leases: list[str] = field(default_factory=list)  # expired leases deleted
    orphans: list[str] = field(default_factory=list)  # crash leftovers in snapshots/
    bytes_reclaimed: int = 0


def mark(
    roots: Roots,
    references: References,
    parent_of: Callable[[str], str | None],
) -> Marked:
    """Everything reachable from ``roots``: content by ``references``, snapshots by parent."""
    marked = Marked()
    stack = list(roots.content)
    while stack:
        digest = stack.pop()
        if digest in marked.content:
            continue
        marked.content.add(digest)
        stack.extend(d for d in references(digest) if d not in marked.content)
    for key in roots.snapshots:
        current: str | None = key
        while current is not None and current not in marked.snapshots:
            marked.snapshots.add(current)
            current = parent_of(current)
    return marked


def collect_roots(metadata: MetadataStore, now: float) -> Roots:
    """The GC roots, read in one transaction so that they are consistent."""
    roots = Roots()
    with metadata.transaction():
        leased = metadata.leased(now)
        images = metadata.images()
        engine_images, engine_snapshots = metadata.engine_references()
        image_snapshots = metadata.image_layer_snapshot_keys()
    for image in images:
        roots.content.add(image.id)
        if image.manifest_digest:
            roots.content.add(image.manifest_digest)
    # A container's image is an image record too; if it was removed with -f its config
    # blob is still needed to inspect the container.
    roots.content |= engine_images
    roots.content |= leased["content"]
    roots.snapshots = image_snapshots | engine_snapshots | leased["snapshot"]
    roots.ingests = set(leased["ingest"])
    return roots


def collect(
    metadata: MetadataStore,
    content: ContentStore,
    snapshotter: Snapshotter | None,
    references: References,
    *,
    now: float | None = None,
    ingest_grace: float = 24 * 3600.0,
    dry_run: bool = False,
) -> GCResult:
    """Run one collection; ``dry_run`` reports what would go and removes nothing."""
    now = time.time() if now is None else now
    result = GCResult()
    if not dry_run:
        result.leases = metadata.delete_expired_leases(now)

    # Candidates first, roots second: see the module docstring.
    blob_sizes = {digest: info.size for digest, info in content.walk()}
    snaps = {s.key: s for s in snapshotter.walk()} if snapshotter else {}
    roots = collect_roots(metadata, now)

    def refs(digest: str) -> Iterable[str]:
        # Index entries for platforms never pulled are simply absent: leaves.
        return references(digest) if digest in blob_sizes else ()

    def parent_of(key: str) -> str | None:
        snap = snaps.get(key) or metadata.get_snapshot(key)
        return snap.parent if snap else None

    marked = mark(roots, refs, parent_of)

    for digest in sorted(set(blob_sizes) - marked.content):
        if not dry_run:
            try:
                content.delete(digest)
            except NotFound:
                continue
        result.blobs.append(digest)
        result.bytes_reclaimed += blob_sizes[digest]

    if snapshotter is not None:
        _sweep_snapshots(snapshotter, metadata, snaps, marked, result, dry_run)

    if not dry_run:
        for ref, size in content.remove_stale_ingests(ingest_grace, roots.ingests, now):
            result.ingests.append(ref)
            result.bytes_reclaimed += size
    return result


def _depth(key: str, snaps: dict) -> int:
    depth, seen = 0, set()
    while key in snaps and key not in seen:
        seen.add(key)
        parent = snaps[key].parent
        if parent is None:
            break
        key, depth = parent, depth + 1
    return depth


def _sweep_snapshots(
    snapshotter: Snapshotter,
    metadata: MetadataStore,
    snaps: dict,
    marked: Marked,
    result: GCResult,
    dry_run: bool,
) -> None:
    # Children before parents: remove() refuses a snapshot that still has children.
    doomed = sorted(set(snaps) - marked.snapshots, key=lambda k: -_depth(k, snaps))
    dropped: set[str] = set()
    for key in doomed:
        usage = snapshotter.usage(key).size if key in snaps else 0
        if not dry_run:
            try:
                snapshotter.remove(key)
            except (InUse, NotFound):
                continue  # a child was created after the listing, or it went already
        dropped.add(key)
        result.snapshots.append(key)
        result.bytes_reclaimed += usage
    if dry_run:
        return
    # A layer row naming a removed snapshot would make pulls skip a layer that is gone.
    for layer in metadata.layers():
        if layer.snapshot_key in dropped:
            metadata.delete_layer(layer.chain_id)
    result.orphans = snapshotter.cleanup()
