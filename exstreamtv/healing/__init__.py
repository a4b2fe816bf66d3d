"""Self-healing (spec phase 6): log collector, ffmpeg monitor, pattern detector, resolver."""
