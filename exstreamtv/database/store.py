"""The library in the database: items (with streams and collections) per source.

Locations are stored without credentials (:func:`exstreamtv.secrets.strip_credentials`);
rows written by older versions lose theirs when read back and at the next save.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, fields
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from exstreamtv.database.connection import DatabaseConnectionManager
from exstreamtv.database.models import (
    CollectionItemRow,
    CollectionRow,
    MediaItemRow,
    MediaSourceRow,
    MediaStreamRow,
)
from exstreamtv.media.models import MediaInfo, MediaItem, StreamInfo
from exstreamtv.secrets import strip_credentials

_STREAM_COLUMNS = ("index", "type", "codec", "language", "title")
_STREAM_DETAILS = tuple(f.name for f in fields(StreamInfo) if f.name not in _STREAM_COLUMNS)


def _upsert(session: AsyncSession, table: Any, values: list[dict[str, Any]],
            keys: Sequence[str]) -> Any:
    """An INSERT ... ON CONFLICT DO UPDATE for SQLite or PostgreSQL."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table).values(values)
    updates = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
    if updates:
        return stmt.on_conflict_do_update(index_elements=list(keys), set_=updates)
    return stmt.on_conflict_do_nothing(index_elements=list(keys))


def _item_row(item: MediaItem, now: float) -> dict[str, Any]:
    info = item.info
    return {
        "source_id": item.source_id,
        "item_id": item.id,
        "title": item.title,
        "location": strip_credentials(item.location),
        "duration": item.duration,
        "info_path": strip_credentials(info.path) if info else None,
        "format_name": info.format_name if info else None,
        "bit_rate": info.bit_rate if info else None,
        "metadata": dict(item.metadata),
        "updated_at": now,
    }


def _stream_rows(item: MediaItem) -> list[dict[str, Any]]:
    if item.info is None:
        return []
    rows = []
    for position, stream in enumerate(item.info.streams):
        data = asdict(stream)
        rows.append({
            "source_id": item.source_id, "item_id": item.id, "position": position,
            "stream_index": stream.index, "type": stream.type, "codec": stream.codec,
            "language": stream.language, "title": stream.title,
            "details": {k: data[k] for k in _STREAM_DETAILS},
        })
    return rows


class LibraryStore:
    """Saves scan results and loads them back at start."""

    def __init__(self, manager: DatabaseConnectionManager) -> None:
        self.manager = manager

    async def save(self, source_id: str, source_type: str, items: Sequence[MediaItem]) -> None:
        """Upsert a source's scanned items; items no longer found are removed."""
        now = time.time()

        async def work(session: AsyncSession) -> None:
            await session.execute(_upsert(session, MediaSourceRow.__table__, [{
                "id": source_id, "type": source_type, "last_scan": now,
                "item_count": len(items)}], ["id"]))
            found = {item.id for item in items}
            known = set((await session.scalars(
                select(MediaItemRow.item_id).where(MediaItemRow.source_id == source_id))).all())
            gone = known - found
            if gone:
                await session.execute(delete(MediaItemRow).where(
                    MediaItemRow.source_id == source_id, MediaItemRow.item_id.in_(gone)))
            for chunk in _chunks(list(items), 200):
                await session.execute(_upsert(session, MediaItemRow.__table__,
                                              [_item_row(item, now) for item in chunk],
                                              ["source_id", "item_id"]))
            # Streams and memberships are replaced wholesale for the source.
            await session.execute(delete(MediaStreamRow).where(
                MediaStreamRow.source_id == source_id))
            await session.execute(delete(CollectionItemRow).where(
                CollectionItemRow.source_id == source_id))
            streams = [row for item in items for row in _stream_rows(item)]
            for chunk in _chunks(streams, 500):
                await session.execute(insert(MediaStreamRow), chunk)
            names = sorted({name for item in items for name in item.collections})
            if names:
                await session.execute(_upsert(session, CollectionRow.__table__,
                                              [{"name": n} for n in names], ["name"]))
            members = [{"collection": name, "source_id": source_id, "item_id": item.id}
                       for item in items for name in dict.fromkeys(item.collections)]
            for chunk in _chunks(members, 500):
                await session.execute(insert(CollectionItemRow), chunk)

        await self.manager.write(work)

    async def load(self) -> dict[str, list[MediaItem]]:
        """Every known item by source id, in the order the library sorts them."""
        async with self.manager.session() as session:
            rows = (await session.scalars(select(MediaItemRow))).all()
            streams: dict[tuple[str, str], list[StreamInfo]] = defaultdict(list)
            for srow in (await session.scalars(
                    select(MediaStreamRow).order_by(MediaStreamRow.position))).all():
                streams[(srow.source_id, srow.item_id)].append(StreamInfo(
                    index=srow.stream_index, type=srow.type, codec=srow.codec,
                    language=srow.language, title=srow.title, **(srow.details or {})))
            collections: dict[tuple[str, str], list[str]] = defaultdict(list)
            for crow in (await session.scalars(select(CollectionItemRow))).all():
                collections[(crow.source_id, crow.item_id)].append(crow.collection)
        result: dict[str, list[MediaItem]] = defaultdict(list)
        for row in rows:
            key = (row.source_id, row.item_id)
            info = None
            if row.info_path is not None:
                info = MediaInfo(path=strip_credentials(row.info_path), duration=row.duration,
                                 format_name=row.format_name or "", bit_rate=row.bit_rate,
                                 streams=tuple(streams.get(key, ())))
            result[row.source_id].append(MediaItem(
                id=row.item_id, source_id=row.source_id, title=row.title,
                location=strip_credentials(row.location), duration=row.duration, info=info,
                metadata=dict(row.item_metadata or {}),
                collections=tuple(sorted(collections.get(key, ())))))
        return {sid: sorted(items, key=lambda i: i.sort_key) for sid, items in result.items()}


    async def counts(self) -> dict[str, int]:
        """How many sources, items and streams the database holds."""
        async with self.manager.session() as session:
            return {
                name: int(await session.scalar(select(func.count()).select_from(model)) or 0)
                for name, model in (("sources", MediaSourceRow), ("items", MediaItemRow),
                                    ("streams", MediaStreamRow))
            }


def _chunks(values: list[Any], size: int) -> list[list[Any]]:
    return [values[i:i + size] for i in range(0, len(values), size)]
