"""The request headers nodes of a lineup send each other (never anything in a URL)."""

#: A stream request of the internal relay connection: the node that relays.
RELAY_HEADER = "X-ExStreamTV-Relay"
#: The cluster secret (``cluster.secret``, else ``server.api_token``).
SECRET_HEADER = "X-ExStreamTV-Cluster-Secret"
#: A node asking another for its part of a lineup-wide view, or passing on an HLS request.
PEER_HEADER = "X-ExStreamTV-Peer"
#: The nodes that gave no answer to a lineup-wide view (a response header).
UNREACHABLE_HEADER = "X-ExStreamTV-Unreachable-Nodes"
