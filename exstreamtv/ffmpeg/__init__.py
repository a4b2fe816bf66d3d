"""ffmpeg: finding the binaries, encoder presets, argv building, process supervision."""
