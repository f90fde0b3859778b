"""Container networking: bridge (default and user-defined), host, none, container:<id>.

Public API (the engine imports these; everything else is internal):

``manager``   :class:`NetworkManager`: networks (create/inspect/list/remove/prune,
              connect/disconnect) and the container lifecycle (register/netns_for/detach/
              forget/network_settings/nameserver/restore); :func:`parse_mode`
``errors``    :class:`NetworkError` and its subclasses, each with Docker's HTTP ``status``
``ipam``      :class:`IPAM` (addresses in metadata.db), :func:`plan_pools`, :class:`AddressPool`
``store``     :class:`NetworkDB` (records in metadata.db), JSON document stores
``etcfiles``  hosts / resolv.conf / hostname texts
``nat``, ``ports``, ``dns``  nftables rules, published ports, the embedded DNS server
``bridge``    netlink helpers (pyroute2): bridges, veth endpoints, IFLA_IFALIAS marks
``netns``     fork-free namespace files: ``create``, ``remove``, ``run_in``

Importing this package is cheap: pyroute2 is imported on first netlink use.
"""
