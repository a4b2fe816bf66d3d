"""ExStreamTV's built-in plugins: each documented feature is one of these.

They are ordinary plugins: each imports only the public API from ``exstreamtv`` and is
a worked example for third-party plugins. Installed as the package
``exstreamtv_plugins``; loaded by ``PluginHost.load_plugins``, never at import time.
"""

#: Modules loaded as built-in plugins, in order. Names used in ``plugins.disabled`` are
#: these paths without the ``exstreamtv_plugins.`` prefix (e.g. ``sources.local``).
BUILTIN_PLUGINS: tuple[str, ...] = (
    "exstreamtv_plugins.sources.local",
    "exstreamtv_plugins.sources.demo",
    "exstreamtv_plugins.sources.plex",
    "exstreamtv_plugins.sources.jellyfin",
    "exstreamtv_plugins.sources.emby",
    "exstreamtv_plugins.schedulers.ordered",
    "exstreamtv_plugins.schedulers.shuffle",
    "exstreamtv_plugins.schedulers.random_pick",
    "exstreamtv_plugins.schedulers.time_slots",
    "exstreamtv_plugins.schedulers.balance",
    "exstreamtv_plugins.encoders.software",
    "exstreamtv_plugins.encoders.hardware",
    "exstreamtv_plugins.encoders.auto",
    "exstreamtv_plugins.pickers.audio",
    "exstreamtv_plugins.pickers.subtitles",
    "exstreamtv_plugins.error_screens.visual",
    "exstreamtv_plugins.error_screens.audio",
    "exstreamtv_plugins.mqtt",
    "exstreamtv_plugins.hdhomerun",
    "exstreamtv_plugins.healing.strategies",
)
