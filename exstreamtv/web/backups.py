"""The database API: status with a live query, and list, create and restore backups.

Every route needs the API token when ``server.api_token`` is set.
"""

from __future__ import annotations

from quart import Blueprint, Response

from exstreamtv.database.backup import (
    BackupDiskFull,
    BackupError,
    BackupNotFound,
    InvalidBackupName,
    check_name,
)
from exstreamtv.web.auth import require_token
from exstreamtv.web.common import error, hub, json_response

bp = Blueprint("backups", __name__, url_prefix="/api")


@bp.route("/database", methods=["GET"])
@require_token
async def database_status() -> tuple[Response, int]:
    """Pool statistics, a fresh latency measurement and the library's size in the database."""
    database = hub().database
    if not database.ready:
        return error(503, f"the database is not available: {database.error or database.state}")
    await database.manager.check()
    counts = await database.store.counts()
    return json_response({**database.health(), "rows": counts})


@bp.route("/backups", methods=["GET"])
@require_token
async def list_backups() -> tuple[Response, int]:
    return json_response([b.to_dict() for b in hub().database.backups.list_backups()])


@bp.route("/backups", methods=["POST"])
@require_token
async def create_backup() -> tuple[Response, int]:
    database = hub().database
    if not database.ready:
        return error(503, f"the database is not available: {database.error or database.state}")
    try:
        info = await database.backups.create_backup("manual")
    except BackupDiskFull as exc:
        return error(507, str(exc))
    except BackupError as exc:
        return error(503, str(exc))
    return json_response(info.to_dict(), 201)


@bp.route("/backups/<path:name>/restore", methods=["POST"])
@require_token
async def restore_backup(name: str) -> tuple[Response, int]:
    database = hub().database
    try:
        check_name(name)
        if not database.ready:
            return error(503, f"the database is not available: {database.error or database.state}")
        pre = await database.backups.restore_backup(name)
    except InvalidBackupName as exc:
        return error(400, str(exc))
    except BackupNotFound as exc:
        return error(404, str(exc))
    except BackupError as exc:
        return error(422, f"restore refused, the live database is untouched: {exc}")
    return json_response({"restored": name, "pre_restore_backup": pre.to_dict()})
