"""OCI runtime library: runs OCI Runtime Spec 1.2 bundles with full isolation.

`dockyard.runtime` is embeddable: it imports nothing else from dockyard. The
`dockyard-runtime` program (`cli.py`) is a thin runc-compatible command line over
the operations in `container.py`.
"""
