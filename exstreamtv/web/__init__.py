"""HTTP: IPTV endpoints, streams, the management API and the dashboard."""
