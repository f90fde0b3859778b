"""Volumes: the ``local`` driver (``store``), mount specs (``mountspec``), copy-up.

    names      volume name rules and anonymous names
    options    the local driver's ``-o type=,device=,o=`` options
    filters    ``volume ls`` / ``volume prune`` filters
    mountspec  ``-v``, ``--mount``, ``--tmpfs``, image VOLUMEs -> mount points (pure)
    store      VolumeStore: SQLite rows + ``<data-root>/volumes/<name>/_data``
    copyup     fill an empty volume from the image's content, fd-relative
"""
