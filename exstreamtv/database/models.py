"""The schema: SQLAlchemy 2 declarative models.

Every change here needs a migration in ``migrations/versions`` (see docs/database.md).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class MediaSourceRow(Base):
    """A configured source, as last scanned."""

    __tablename__ = "media_sources"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    last_scan: Mapped[float | None] = mapped_column(Float)
    item_count: Mapped[int] = mapped_column(Integer, default=0)


class MediaItemRow(Base):
    """One playable item of a source."""

    __tablename__ = "media_items"

    source_id: Mapped[str] = mapped_column(
        String(200), ForeignKey("media_sources.id", ondelete="CASCADE"), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(500), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    location: Mapped[str] = mapped_column(Text)
    duration: Mapped[float] = mapped_column(Float)
    info_path: Mapped[str | None] = mapped_column(Text)
    format_name: Mapped[str | None] = mapped_column(String(200))
    bit_rate: Mapped[int | None] = mapped_column(BigInteger)
    item_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    updated_at: Mapped[float] = mapped_column(Float)


class MediaStreamRow(Base):
    """One stream of a media item (the fields of ``StreamInfo``)."""

    __tablename__ = "media_streams"
    __table_args__ = (
        ForeignKeyConstraint(["source_id", "item_id"],
                             ["media_items.source_id", "media_items.item_id"],
                             ondelete="CASCADE"),
    )

    source_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(500), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    stream_index: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(20))
    codec: Mapped[str] = mapped_column(String(50))
    language: Mapped[str | None] = mapped_column(String(10))
    title: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CollectionRow(Base):
    """A named collection of items (besides each source, which is one implicitly)."""

    __tablename__ = "collections"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)


class CollectionItemRow(Base):
    """Membership of an item in a collection."""

    __tablename__ = "collection_items"
    __table_args__ = (
        ForeignKeyConstraint(["source_id", "item_id"],
                             ["media_items.source_id", "media_items.item_id"],
                             ondelete="CASCADE"),
    )

    collection: Mapped[str] = mapped_column(
        String(200), ForeignKey("collections.name", ondelete="CASCADE"), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(500), primary_key=True)


class ChannelPlayoutRow(Base):
    """Where a channel's schedule stands: position in its sequence, epoch, free state."""

    __tablename__ = "channel_playout"

    channel_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    scheduler: Mapped[str] = mapped_column(String(100))
    epoch: Mapped[float] = mapped_column(Float)
    position: Mapped[int] = mapped_column(Integer, default=0)
    seed: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[float] = mapped_column(Float)


class PlayHistoryRow(Base):
    """What a channel played (programmes and filler), for balance and filler choices."""

    __tablename__ = "play_history"
    __table_args__ = (Index("ix_play_history_channel_started", "channel_number", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_number: Mapped[int] = mapped_column(Integer)
    source_id: Mapped[str | None] = mapped_column(String(200))
    item_id: Mapped[str | None] = mapped_column(String(500))
    collection: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="programme")  # programme | filler
    started_at: Mapped[float] = mapped_column(Float)
    duration: Mapped[float] = mapped_column(Float)


class CooldownRow(Base):
    """An item or collection a channel should not play again before ``until``."""

    __tablename__ = "cooldowns"

    channel_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(500), primary_key=True)
    until: Mapped[float] = mapped_column(Float)


class HealingOutcomeRow(Base):
    """A fix the self-healing engine applied and whether it worked (for learning)."""

    __tablename__ = "healing_outcomes"
    __table_args__ = (Index("ix_healing_outcomes_pattern", "pattern"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[float] = mapped_column(Float)
    channel_number: Mapped[int | None] = mapped_column(Integer)
    pattern: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100))
    risk: Mapped[str] = mapped_column(String(20))
    confidence: Mapped[float | None] = mapped_column(Float)
    success: Mapped[bool] = mapped_column(Boolean)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class BackupRow(Base):
    """A backup this database knows of (the files' own metadata is authoritative)."""

    __tablename__ = "backups"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    created: Mapped[float] = mapped_column(Float)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    schema_version: Mapped[str | None] = mapped_column(String(50))
    app_version: Mapped[str] = mapped_column(String(50))


class FailedItemRow(Base):
    """An item a channel could not play; not scheduled again until its file changes."""

    __tablename__ = "failed_items"

    source_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(500), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    location: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str | None] = mapped_column(String(200))
    channel_number: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    failed_at: Mapped[float] = mapped_column(Float)


class LoudnessRow(Base):
    """An item's measured EBU R128 loudness, for one audio stream and downmix.

    ``fingerprint`` is the file as measured (size and modification time): a changed file
    is measured again. ``integrated`` is None when nothing could be measured (silence,
    too short, unreadable), so such an item is not measured on every play.
    """

    __tablename__ = "loudness"

    source_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(500), primary_key=True)
    stream: Mapped[str] = mapped_column(String(500), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(200))
    integrated: Mapped[float | None] = mapped_column(Float)
    true_peak: Mapped[float | None] = mapped_column(Float)
    measured_at: Mapped[float] = mapped_column(Float)
