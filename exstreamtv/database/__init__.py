"""Database layer: connection manager (spec 1.1), schema and migrations, backups (spec 5.1).

See docs/database.md. The running server's instance is ``hub.database``.
"""

from exstreamtv.database.backup import BackupError, BackupInfo, DatabaseBackupManager
from exstreamtv.database.connection import (
    ConnectionMetrics,
    DatabaseConnectionManager,
    optimal_pool_size,
)
from exstreamtv.database.migrate import SchemaTooNew
from exstreamtv.database.store import LibraryStore

__all__ = [
    "BackupError",
    "BackupInfo",
    "ConnectionMetrics",
    "DatabaseBackupManager",
    "DatabaseConnectionManager",
    "LibraryStore",
    "SchemaTooNew",
    "optimal_pool_size",
]
