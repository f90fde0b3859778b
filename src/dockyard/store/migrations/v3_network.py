"""Schema version 3: network state beside the ``networks`` table of version 2.

``ip_allocations``: every address IPAM handed out (one row per network and address, so the
primary key itself forbids handing one out twice). ``network_attachments``: the networks a
container wants (from create and ``network connect``), kept while the container exists.
``network_endpoints``: what is wired now (veth, addresses) for a running container, so a
restarted daemon can keep or undo it.
"""

STATEMENTS = (
    """CREATE TABLE IF NOT EXISTS ip_allocations (
        network_id TEXT NOT NULL,
        address    TEXT NOT NULL,
        owner      TEXT NOT NULL,
        PRIMARY KEY (network_id, address)
    )""",
    "CREATE INDEX IF NOT EXISTS ip_allocations_owner ON ip_allocations(owner)",
    """CREATE TABLE IF NOT EXISTS network_attachments (
        container_id TEXT NOT NULL,
        network_id   TEXT NOT NULL,
        position     INTEGER NOT NULL DEFAULT 0,
        config       TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (container_id, network_id)
    )""",
    "CREATE INDEX IF NOT EXISTS network_attachments_net ON network_attachments(network_id)",
    """CREATE TABLE IF NOT EXISTS network_endpoints (
        container_id TEXT NOT NULL,
        network_id   TEXT NOT NULL,
        data         TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (container_id, network_id)
    )""",
    """CREATE TABLE IF NOT EXISTS network_sandboxes (
        container_id TEXT PRIMARY KEY,
        data         TEXT NOT NULL DEFAULT '{}'
    )""",
)
