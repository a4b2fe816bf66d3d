"""The words of self-healing, defined once: issue types, severities, risks, fix statuses
and actions.

Every module that names an issue, a risk or what happened to a fix imports it from
here. The enums are ``StrEnum``s, so a member equals its string (``IssueType.FFMPEG_HANG
== "FFMPEG_HANG"``) and events, JSON and the database keep the same spelling.
"""

from __future__ import annotations

from enum import StrEnum


class IssueType(StrEnum):
    """What is wrong (the spec's issue table, plus the types met in practice)."""

    FFMPEG_HANG = "FFMPEG_HANG"
    FFMPEG_CRASH = "FFMPEG_CRASH"
    URL_EXPIRED = "URL_EXPIRED"
    AUTH_FAILED = "AUTH_FAILED"
    DB_POOL_EXHAUSTED = "DB_POOL_EXHAUSTED"
    MEMORY_PRESSURE = "MEMORY_PRESSURE"
    SOURCE_UNAVAILABLE = "SOURCE_UNAVAILABLE"
    #: A hardware encoder failed (the ffmpeg monitor's ``HARDWARE_ERROR`` lines): one name.
    HARDWARE_FAILED = "HARDWARE_FAILED"
    #: The encoder's device could not tone-map HDR (``DeviceFailure.TONEMAP``): the
    #: narrower step, CPU tone mapping with the same hardware encoder.
    TONEMAP_FAILED = "TONEMAP_FAILED"
    #: The media cannot be decoded (a non-recoverable codec error: skip, do not retry).
    CODEC_ERROR = "CODEC_ERROR"
    #: The host has too little CPU for the channels (not an ffmpeg fault: no restart).
    HOST_STARVED = "HOST_STARVED"


class Severity(StrEnum):
    """How badly an issue hurts viewers now, lowest first (see :mod:`.severity`)."""

    WARNING = "WARNING"  # a forecast or a warning; the programme still plays at play speed
    ERROR = "ERROR"  # something failed, or the programme plays below play speed
    CRITICAL = "CRITICAL"  # the channel delivers no programme, or the item cannot be played

    @property
    def rank(self) -> int:
        """WARNING=0, ERROR=1, CRITICAL=2."""
        return list(Severity).index(self)

    @classmethod
    def of(cls, value: str) -> Severity:
        """The severity named ``value``, or of a log level (``info`` and below count as
        WARNING, ``fatal`` as CRITICAL); an unknown name counts as ERROR."""
        name = str(value).upper()
        name = _LEVEL_SEVERITY.get(name, name)
        try:
            return cls(name)
        except ValueError:
            return cls.ERROR


_LEVEL_SEVERITY = {"TRACE": "WARNING", "DEBUG": "WARNING", "VERBOSE": "WARNING",
                   "INFO": "WARNING", "WARN": "WARNING", "FATAL": "CRITICAL",
                   "PANIC": "CRITICAL"}


class Risk(StrEnum):
    """How much a fix may disturb viewers, lowest first."""

    SAFE = "SAFE"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        """SAFE=0 ... CRITICAL=4."""
        return list(Risk).index(self)

    @classmethod
    def of(cls, value: str) -> Risk:
        """The risk named ``value``; an unknown name counts as CRITICAL."""
        try:
            return cls(str(value).upper())
        except ValueError:
            return cls.CRITICAL


#: The risk names in order, for config validation and docs.
RISK_LEVELS: tuple[str, ...] = tuple(r.value for r in Risk)


class FixStatus(StrEnum):
    """Where one fix attempt stands (a :class:`FixRecord`'s ``status``)."""

    PROPOSED = "proposed"
    PENDING = "pending"
    APPLIED = "applied"
    VERIFIED = "verified"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CAPPED = "capped"
    SKIPPED = "skipped"
    ESCALATED = "escalated"


class FixAction(StrEnum):
    """Every ``action`` a :class:`FixEvent` can carry: the statuses plus the steps between."""

    DETECTED = "detected"
    PREDICTED = "predicted"
    PATTERN = "pattern"
    APPROVED = "approved"
    PENDING = "pending"
    APPLIED = "applied"
    VERIFIED = "verified"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CAPPED = "capped"
    SKIPPED = "skipped"
    ESCALATED = "escalated"
