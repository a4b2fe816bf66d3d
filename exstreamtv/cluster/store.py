"""The cluster tables in PostgreSQL and every statement that reads or writes them.

``cluster_nodes`` holds one row per node (advertised URL, capacity, config fingerprint,
heartbeat); ``cluster_leases`` one row per channel that was ever leased (owner node,
expiry, fencing token). All times are the database's ``now()``, so clock skew between
nodes does not matter. A lease is changed only inside a transaction that holds its row
lock (``SELECT ... FOR UPDATE``); the token grows by one on every change of owner, so a
node that lost a lease learns it at its next renewal (its token no longer matches).

The tables are created on the first start of a clustered node (``IF NOT EXISTS``, under
an advisory lock); a single-node server never creates them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

#: "EXSTV" + 2 and + 3: the schema creation lock and the node-id lock class (int4 key).
SCHEMA_LOCK_KEY = 0x4578535456 + 2
#: Held (session level) by the node taking the cluster's scheduled backup.
BACKUP_LOCK_KEY = 0x4578535456 + 4
NODE_LOCK_CLASS = 0x45585433  # "EXT3"
#: Held (transaction level) by a node counting its leases before it takes one more.
PLACE_LOCK_CLASS = 0x45585434  # "EXT4"

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS cluster_nodes (
        node_id text PRIMARY KEY,
        url text NOT NULL,
        capacity integer NOT NULL,
        config_version text NOT NULL,
        config_ok boolean NOT NULL DEFAULT true,
        problem text,
        hardware text,
        started_at timestamptz NOT NULL DEFAULT now(),
        heartbeat_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE IF NOT EXISTS cluster_leases (
        channel integer PRIMARY KEY,
        owner text,
        token bigint NOT NULL DEFAULT 0,
        acquired_at timestamptz,
        expires_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE IF NOT EXISTS cluster_meta (
        key text PRIMARY KEY,
        value text NOT NULL)""",
    """INSERT INTO cluster_meta (key, value)
       VALUES ('cluster_id', substr(md5(random()::text || clock_timestamp()::text), 1, 12))
       ON CONFLICT DO NOTHING""",
    """CREATE TABLE IF NOT EXISTS cluster_backups (
        job text PRIMARY KEY,
        node_id text NOT NULL,
        started_at timestamptz NOT NULL,
        finished_at timestamptz)""",
)

#: A node is alive while its heartbeat is younger than this many lease periods.
ALIVE_LEASES = 2.0


@dataclass(frozen=True)
class Owned:
    """This node holds the channel's lease with ``token``."""

    token: int


@dataclass(frozen=True)
class Upstream:
    """Another node transcodes (or may take) the channel: relay from ``url``."""

    node_id: str
    url: str


@dataclass(frozen=True)
class NoPlace:
    """Nobody can transcode the channel now; ``reason`` says why."""

    reason: str


Placement = Owned | Upstream | NoPlace


async def create_schema(conn: AsyncConnection) -> None:
    """Create the tables if missing (one node at a time)."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK_KEY})
    for statement in SCHEMA:
        await conn.execute(text(statement))


async def cluster_id(conn: AsyncConnection) -> str:
    """The lineup's id (made when the tables were created): names its Home Assistant device."""
    row = await conn.execute(text("SELECT value FROM cluster_meta WHERE key = 'cluster_id'"))
    return str(row.scalar())


async def lock_node_id(conn: AsyncConnection, node_id: str) -> bool:
    """Take the session-level lock of ``node_id`` on ``conn``; False when another holds it."""
    row = await conn.execute(text("SELECT pg_try_advisory_lock(:c, hashtext(:id))"),
                             {"c": NODE_LOCK_CLASS, "id": node_id})
    return bool(row.scalar())


async def node_url(conn: AsyncConnection, node_id: str) -> str | None:
    row = await conn.execute(text("SELECT url FROM cluster_nodes WHERE node_id = :id"),
                             {"id": node_id})
    return row.scalar()


async def register(conn: AsyncConnection, node_id: str, url: str, capacity: int,
                   version: str, hardware: str) -> None:
    """Insert or refresh this node's row at start (a new ``started_at``)."""
    await conn.execute(text(
        """INSERT INTO cluster_nodes (node_id, url, capacity, config_version, hardware)
           VALUES (:id, :url, :cap, :ver, :hw)
           ON CONFLICT (node_id) DO UPDATE SET url = :url, capacity = :cap,
             config_version = :ver, hardware = :hw, config_ok = true, problem = NULL,
             started_at = now(), heartbeat_at = now()"""),
        {"id": node_id, "url": url, "cap": capacity, "ver": version, "hw": hardware})


async def lineup_version(conn: AsyncConnection, lease_seconds: float) -> tuple[str, str] | None:
    """(node id, config version) of the longest-running live node: the lineup's version."""
    row = await conn.execute(text(
        """SELECT node_id, config_version FROM cluster_nodes
           WHERE heartbeat_at > now() - make_interval(secs => :alive)
           ORDER BY started_at, node_id LIMIT 1"""),
        {"alive": lease_seconds * ALIVE_LEASES})
    first = row.first()
    return (str(first[0]), str(first[1])) if first else None


async def heartbeat(conn: AsyncConnection, node_id: str, capacity: int, version: str,
                    problem: str | None) -> None:
    await conn.execute(text(
        """UPDATE cluster_nodes SET heartbeat_at = now(), capacity = :cap,
             config_version = :ver, config_ok = :ok, problem = :problem
           WHERE node_id = :id"""),
        {"id": node_id, "cap": capacity, "ver": version, "ok": problem is None,
         "problem": problem})


async def renew(conn: AsyncConnection, node_id: str, owned: dict[int, int],
                lease_seconds: float) -> dict[int, int]:
    """Extend the leases this node still holds with the same token; returns them."""
    if not owned:
        return {}
    rows = await conn.execute(text(
        """UPDATE cluster_leases SET expires_at = now() + make_interval(secs => :lease)
           WHERE owner = :id AND channel = ANY(:channels) RETURNING channel, token"""),
        {"id": node_id, "channels": list(owned), "lease": lease_seconds})
    held = {int(c): int(t) for c, t in rows.all()}
    return {c: t for c, t in held.items() if owned.get(c) == t}


async def place(conn: AsyncConnection, node_id: str, channel: int, *, capacity: int,
                may_own: bool, lease_seconds: float) -> Placement:
    """Where ``channel`` is transcoded: here (taking or keeping the lease), at its live
    owner, or at the live node with the most room. Run inside a transaction."""
    await conn.execute(text("INSERT INTO cluster_leases (channel) VALUES (:ch) "
                            "ON CONFLICT DO NOTHING"), {"ch": channel})
    row = (await conn.execute(text(
        """SELECT l.owner, l.token, l.expires_at > now() AS live, n.url
           FROM cluster_leases l LEFT JOIN cluster_nodes n ON n.node_id = l.owner
           WHERE l.channel = :ch FOR UPDATE OF l"""), {"ch": channel})).one()
    owner, token, live, url = row
    params: dict[str, Any] = {"id": node_id, "ch": channel, "lease": lease_seconds}
    if live and owner == node_id:
        await conn.execute(text("UPDATE cluster_leases SET expires_at = now() + "
                                "make_interval(secs => :lease) WHERE channel = :ch"), params)
        return Owned(int(token))
    if live and owner is not None and url is not None:
        return Upstream(str(owner), str(url))
    if may_own:
        # One placement of this node at a time: two channels placed at once must not
        # both see room for one more (the lease row locks are per channel).
        await conn.execute(text("SELECT pg_advisory_xact_lock(:c, hashtext(:id))"),
                           {"c": PLACE_LOCK_CLASS, "id": node_id})
        held = (await conn.execute(text(
            "SELECT count(*) FROM cluster_leases WHERE owner = :id AND expires_at > now()"),
            params)).scalar() or 0
        if held < capacity:
            new = (await conn.execute(text(
                """UPDATE cluster_leases SET owner = :id, token = token + 1,
                     acquired_at = now(), expires_at = now() + make_interval(secs => :lease)
                   WHERE channel = :ch RETURNING token"""), params)).scalar()
            return Owned(int(new or 0))
    spare = (await conn.execute(text(
        """SELECT n.node_id, n.url FROM cluster_nodes n
           WHERE n.node_id <> :id AND n.config_ok
             AND n.heartbeat_at > now() - make_interval(secs => :alive)
             AND n.capacity > (SELECT count(*) FROM cluster_leases l
                               WHERE l.owner = n.node_id AND l.expires_at > now())
           ORDER BY (SELECT count(*) FROM cluster_leases l
                     WHERE l.owner = n.node_id AND l.expires_at > now()), n.node_id
           LIMIT 1"""), {**params, "alive": lease_seconds * ALIVE_LEASES})).first()
    if spare is not None:
        return Upstream(str(spare[0]), str(spare[1]))
    return NoPlace("every live node is at its cluster.max_channels (or refuses leases); "
                   "add a node or raise cluster.max_channels")


async def live_nodes(conn: AsyncConnection, lease_seconds: float) -> dict[str, str]:
    """The live nodes (a heartbeat within the alive window): node id -> advertised URL."""
    rows = (await conn.execute(text(
        """SELECT node_id, url FROM cluster_nodes
           WHERE heartbeat_at > now() - make_interval(secs => :alive) ORDER BY node_id"""),
        {"alive": lease_seconds * ALIVE_LEASES})).all()
    return {str(row[0]): str(row[1]) for row in rows}


async def release(conn: AsyncConnection, node_id: str, channel: int, token: int) -> None:
    """Give the lease up now (only if it is still this node's, with ``token``)."""
    await conn.execute(text(
        """UPDATE cluster_leases SET owner = NULL, expires_at = now()
           WHERE channel = :ch AND owner = :id AND token = :t"""),
        {"ch": channel, "id": node_id, "t": token})


async def leave(conn: AsyncConnection, node_id: str) -> None:
    """Clean shutdown: every lease of this node ends now and it is no longer alive."""
    await conn.execute(text("UPDATE cluster_leases SET owner = NULL, expires_at = now() "
                            "WHERE owner = :id"), {"id": node_id})
    await conn.execute(text("UPDATE cluster_nodes SET heartbeat_at = 'epoch' "
                            "WHERE node_id = :id"), {"id": node_id})


async def overview(conn: AsyncConnection, lease_seconds: float) -> dict[str, Any]:
    """Nodes (alive or not, with load) and live leases, for ``GET /api/cluster``."""
    nodes = (await conn.execute(text(
        """SELECT n.node_id, n.url, n.capacity, n.config_version, n.config_ok, n.problem,
                  n.hardware, n.started_at, n.heartbeat_at,
                  n.heartbeat_at > now() - make_interval(secs => :alive) AS alive,
                  (SELECT count(*) FROM cluster_leases l
                   WHERE l.owner = n.node_id AND l.expires_at > now()) AS load
           FROM cluster_nodes n ORDER BY n.node_id"""),
        {"alive": lease_seconds * ALIVE_LEASES})).mappings().all()
    leases = (await conn.execute(text(
        """SELECT channel, owner, token, acquired_at, expires_at FROM cluster_leases
           WHERE owner IS NOT NULL AND expires_at > now() ORDER BY channel"""))).mappings().all()

    def plain(row: Any) -> dict[str, Any]:
        return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}

    return {"nodes": [plain(n) for n in nodes], "leases": [plain(lease) for lease in leases]}



# -- the scheduled backup: one node at a time ------------------------------------------


async def backup_lock(conn: AsyncConnection, wait: float) -> bool:
    """Take the scheduled-backup lock on ``conn`` (session level, autocommit), waiting up
    to ``wait`` seconds while another node holds it; False when it is still held."""
    await conn.execute(text("SELECT set_config('lock_timeout', :ms, false)"),
                       {"ms": f"{int(wait * 1000)}ms"})
    try:
        await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": BACKUP_LOCK_KEY})
    except DBAPIError as exc:
        if "lock timeout" in str(exc):
            return False
        raise
    return True


async def unlock_backup(conn: AsyncConnection) -> None:
    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": BACKUP_LOCK_KEY})


@dataclass(frozen=True)
class BackupRun:
    """The cluster's latest scheduled backup: who took it, how many seconds ago it
    started and (when it completed) finished."""

    node_id: str
    started_ago: float
    finished_ago: float | None


async def last_backup(conn: AsyncConnection, job: str) -> BackupRun | None:
    row = (await conn.execute(text(
        """SELECT node_id, extract(epoch FROM now() - started_at),
                  extract(epoch FROM now() - finished_at)
           FROM cluster_backups WHERE job = :job"""), {"job": job})).first()
    if row is None:
        return None
    return BackupRun(str(row[0]), float(row[1]), None if row[2] is None else float(row[2]))


async def backup_started(conn: AsyncConnection, job: str, node_id: str) -> None:
    await conn.execute(text(
        """INSERT INTO cluster_backups (job, node_id, started_at) VALUES (:job, :id, now())
           ON CONFLICT (job) DO UPDATE SET node_id = :id, started_at = now(),
             finished_at = NULL"""), {"job": job, "id": node_id})


async def backup_finished(conn: AsyncConnection, job: str, node_id: str) -> None:
    await conn.execute(text("UPDATE cluster_backups SET finished_at = now() "
                            "WHERE job = :job AND node_id = :id"), {"job": job, "id": node_id})
