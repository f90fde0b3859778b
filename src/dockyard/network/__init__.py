"""Container networking for ``docker run``: default bridge, none, host, container:<id>.

Public API (the engine imports these; everything else is internal):

``manager``   :class:`NetworkManager` (``attach``/``detach``/``restore``/``ensure_bridge``),
              :class:`Attachment` (``netns_path`` for ``linux.namespaces[network].path``,
              ``network_settings()`` for inspect), :func:`parse_mode`, :class:`NetworkError`
``etcfiles``  :func:`container_etc_files`, :func:`hosts_file`, :func:`resolv_conf`,
              :func:`pick_host_resolv_conf`, :func:`parse_add_host`, :func:`hostname_file`
``ipam``      :class:`IPAM`, :class:`IPAMError`, :func:`default_pools`
``nat``       :class:`Nft`, :func:`ruleset`, :class:`BridgeRules`, :class:`NatError`
``bridge``    netlink helpers (pyroute2): ``ensure_bridge``, ``create_endpoint``, ``veth_names``
``netns``     fork-free namespace files: ``create``, ``remove``, ``run_in``
``store``     :class:`JSONFileStore`, :class:`MemoryStore` (the ``Store`` protocol)

Importing this package is cheap: pyroute2 is imported on first netlink use.
"""
