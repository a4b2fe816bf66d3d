"""Scale-out: several ``exstreamtv serve`` nodes, one lineup, PostgreSQL as the coordinator.

Off unless ``cluster.enabled`` is true (and ``database.url`` is PostgreSQL). Then:

- :mod:`.identity`: each node's stable id, advertised URL and config fingerprint;
- :mod:`.store`: the node and lease tables, every statement that touches them;
- :mod:`.node`: this node's registration, heartbeat, lease renewal and fencing;
- :mod:`.pipeline`: a channel pipeline that transcodes while this node holds the
  channel's lease, and relays the owner's stream otherwise.

See docs/scale-out.md for the operator's view.
"""
