"""A drop-in plugin that fails while importing (tests that the hub isolates it)."""

raise RuntimeError("this plugin is broken on purpose")
