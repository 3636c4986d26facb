"""Who acts, whether they may, and the append-only audit trail.

Every service that changes state takes an ``Actor`` and calls ``authorize``
first, then ``audit_record`` inside its own transaction, so the entry commits
with the change or not at all. A refusal is recorded and raises PermissionDenied.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from jobs.db import dumps, execute_prepared, row_of
from jobs.models import AuditChainHead, AuditCheckpoint, AuditEntry
from jobs.services.audit_anchor import anchor_mismatch, anchor_write, anchored_entries
from jobs.services.errors import InvalidInput

GENESIS_HASH = "0" * 64
# The trail is this many hash chains side by side. An entry extends whichever
# chain no other transaction is appending to (SKIP LOCKED), so submissions do not
# queue on one head row. Within a chain the head's lock orders the appends, and an
# entry's id is drawn while the lock is held, so id order is chain order.
AUDIT_CHAINS = 32


@dataclass(frozen=True)
class Actor:
    """The one who asks for a change, and from where.

    ``user`` is set for people and API tokens; ``cli``, ``system`` and ``github``
    actors act with the authority of the process (shell access is admin access;
    GitHub approvals are checked against the repository's permissions instead).
    """

    name: str
    source: str  # web, api, cli, system, github
    user: AbstractUser | AnonymousUser | None = None
    ip: str = ""
    user_agent: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_user(cls, user, *, source: str = "web", ip: str = "", user_agent: str = "") -> Actor:
        return cls(name=user.get_username(), source=source, user=user, ip=ip, user_agent=user_agent[:300])

    @classmethod
    def for_request(cls, request, *, source: str = "web") -> Actor:
        return cls.for_user(
            request.user,
            source=source,
            ip=request.META.get("REMOTE_ADDR", ""),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )

    @classmethod
    def cli(cls, name: str = "cli") -> Actor:
        return cls(name=name, source="cli")

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(name=name, source="system")

    @classmethod
    def github(cls, login: str) -> Actor:
        return cls(name=f"github:{login}", source="github")

    @property
    def username(self) -> str:
        return self.user.get_username() if self.user is not None else ""

    def can(self, perm: str) -> bool:
        if self.user is None:
            return self.source in {"cli", "system", "github"}
        return bool(self.user.is_active and self.user.has_perm(perm))


def required_reason(reason: Any) -> str:
    """The reason an action keeps in the audit trail, stripped; a blank one is refused."""
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("reason: required")
    return reason.strip()


def authorize(actor: Actor, perm: str, *, action: str, object_type: str = "", object_ids=()) -> None:
    """Refuse (PermissionDenied) and record a 'denied' entry unless the actor holds ``perm``."""
    if actor.can(perm):
        return
    deny(actor, action=action, object_type=object_type, object_ids=object_ids, reason=f"missing permission {perm}")


def deny(actor: Actor, *, action: str, reason: str, object_type: str = "", object_ids=()) -> None:
    """Record a refused action in its own transaction, then raise PermissionDenied."""
    with transaction.atomic():
        audit_record(
            actor,
            action=action,
            outcome=AuditEntry.Outcome.DENIED,
            object_type=object_type,
            object_ids=object_ids,
            reason=reason,
        )
    raise PermissionDenied(reason)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)


def entry_digest(entry: AuditEntry) -> str:
    """The hash that links ``entry`` to the one before it."""
    payload = {
        "prev": entry.prev_hash,
        "created_at": entry.created_at.isoformat() if isinstance(entry.created_at, datetime) else entry.created_at,
        "actor": entry.actor,
        "source": entry.source,
        "action": entry.action,
        "outcome": entry.outcome,
        "object_type": entry.object_type,
        "object_ids": entry.object_ids,
        "reason": entry.reason,
        "before": entry.before,
        "after": entry.after,
        "ip": entry.ip,
        "user_agent": entry.user_agent,
    }
    return hashlib.sha256(_canonical(payload).encode()).hexdigest()


def _jsonable(value: Any) -> Any:
    return None if value is None else json.loads(_canonical(value))


def audit_record(
    actor: Actor,
    *,
    action: str,
    object_type: str = "",
    object_ids=(),
    reason: str = "",
    before: Any = None,
    after: Any = None,
    outcome: str = AuditEntry.Outcome.OK,
) -> AuditEntry:
    """Append one entry to the chain. Call inside the transaction of the change."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the change it records")
    head_id, head_hash = _lock_a_chain_head()
    entry = AuditEntry(
        chain=head_id,
        actor=actor.name,
        source=actor.source,
        action=action,
        outcome=outcome,
        object_type=object_type,
        object_ids=[str(i) for i in object_ids],
        reason=reason or "",
        before=_jsonable(before),
        after=_jsonable(after),
        ip=actor.ip or "",
        user_agent=(actor.user_agent or "")[:300],
        prev_hash=head_hash,
    )
    entry.hash = entry_digest(entry)
    _append(entry)
    return entry


# Lock a chain head no other transaction holds; then, in one statement, append the
# entry and move that head to it.
_LOCK_FREE_HEAD = "SELECT id, last_hash FROM jobs_auditchainhead ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED"
_APPEND = """
WITH entry AS (
    INSERT INTO jobs_auditentry (created_at, actor, source, action, outcome, object_type, object_ids, reason,
        before, after, ip, user_agent, chain, prev_hash, hash)
    SELECT created_at, actor, source, action, outcome, object_type, object_ids, reason,
        before, after, ip, user_agent, chain, prev_hash, hash
    FROM jsonb_populate_record(NULL::jobs_auditentry, %(entry)s::jsonb)
    RETURNING id
)
UPDATE jobs_auditchainhead SET last_hash = %(hash)s WHERE id = %(chain)s
RETURNING (SELECT id FROM entry)
"""


def _append(entry: AuditEntry) -> None:
    if connection.vendor != "postgresql":
        entry.save(force_insert=True)
        AuditChainHead.objects.filter(pk=entry.chain).update(last_hash=entry.hash)
        return
    _, [(entry.id,)] = execute_prepared(
        _APPEND, {"entry": dumps(row_of(entry)), "hash": entry.hash, "chain": entry.chain}
    )
    entry._state.adding = False


def audit_chains_ensure() -> None:
    """Make sure every chain has its head row."""
    AuditChainHead.objects.bulk_create(
        [AuditChainHead(pk=n) for n in range(1, AUDIT_CHAINS + 1)], ignore_conflicts=True
    )


def _lock_a_chain_head() -> tuple[int, str]:
    """(id, last hash) of a chain head locked for this transaction: a free one, else one at random."""
    if connection.vendor == "postgresql":
        _, free = execute_prepared(_LOCK_FREE_HEAD, {})
    else:
        free = list(
            AuditChainHead.objects.select_for_update(skip_locked=True).order_by("?")[:1].values_list("id", "last_hash")
        )
    if free:
        return free[0]
    if not AuditChainHead.objects.exists():  # the migration makes them; a flushed test database has none
        audit_chains_ensure()
    head = AuditChainHead.objects.select_for_update().get(pk=random.randint(1, AUDIT_CHAINS))
    return head.pk, head.last_hash


def audit_job_change(actor: Actor, *, action: str, job, before: dict[str, Any], reason: str = "") -> AuditEntry:
    """One entry for a change to one job: its status, attempts and error before and after."""
    from jobs.representations import job_snapshot

    return audit_record(
        actor,
        action=action,
        object_type="job",
        object_ids=[job.id],
        reason=reason,
        before=before,
        after=job_snapshot(job),
    )


@dataclass(frozen=True)
class ChainReport:
    checked: int
    broken_at: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def audit_verify(*, progress: Callable[[int], None] | None = None) -> ChainReport:
    """Walk every chain from its first entry; when all hold, checkpoint where each ends.

    ``progress`` is told the entries checked so far, every few thousand.
    """
    chains = set(AuditEntry.objects.order_by().values_list("chain", flat=True).distinct())
    return _verify_chains(chains, {}, progress)


def audit_verify_since_checkpoint() -> ChainReport:
    """Verify only what each chain gained since its checkpoint (the whole chain where it has none).

    The cost is the entries appended since the last verification, not the size of
    the trail. Left to the next full verification (``audit_verify``): an entry
    altered before a checkpoint, and entries on a chain number that has neither a
    head nor a checkpoint (written outside the application).
    """
    checkpoints = {cp.chain: cp for cp in AuditCheckpoint.objects.all()}
    if not checkpoints:  # never verified: all of it
        return audit_verify()
    return _verify_chains(set(), checkpoints, None)


# Entries between two progress reports of a full verification.
PROGRESS_EVERY = 5000


class _ChainWalk:
    """One chain followed entry by entry, from its checkpoint (which must come first) or its start."""

    def __init__(self, chain: int, checkpoint: AuditCheckpoint | None) -> None:
        self.chain = chain
        self.checkpoint = checkpoint
        self.prev, self.last_id, self.checked = GENESIS_HASH, 0, 0

    def step(self, entry: AuditEntry) -> str:
        """The problem with ``entry``, or "" when it links to the one before it."""
        if self.checkpoint is not None and not self.last_id:
            return self._anchor(entry)
        if entry.prev_hash != self.prev:
            return "prev_hash does not match the entry before it"
        if entry_digest(entry) != entry.hash:
            return "content does not match its hash (altered)"
        self.prev, self.last_id = entry.hash, entry.id
        self.checked += 1
        return ""

    def _anchor(self, entry: AuditEntry) -> str:
        checkpoint = self.checkpoint
        assert checkpoint is not None
        if entry.id != checkpoint.entry_id or entry.hash != checkpoint.hash or entry_digest(entry) != entry.hash:
            return "the entry verified last time was removed or altered"
        self.prev, self.last_id = entry.hash, entry.id
        return ""

    def finish(self, head_hash: str | None) -> ChainReport:
        if self.checkpoint is not None and not self.last_id:
            return ChainReport(0, self.checkpoint.entry_id, "the entry verified last time was removed or altered")
        if head_hash is None and self.last_id:
            return ChainReport(0, self.last_id, f"chain {self.chain} has no head (removed)")
        if head_hash is not None and head_hash != self.prev:
            return ChainReport(0, self.last_id, "entries after this one were removed (chain head differs)")
        return ChainReport(0)

    @property
    def reached(self) -> AuditCheckpoint | None:
        """The checkpoint to keep: None for an empty chain, or one that did not move."""
        if not self.last_id or (self.checkpoint is not None and self.checkpoint.entry_id == self.last_id):
            return None
        return AuditCheckpoint(chain=self.chain, entry_id=self.last_id, hash=self.prev, verified_at=timezone.now())


def _verify_chains(
    headless: set[int], checkpoints: dict[int, AuditCheckpoint], progress: Callable[[int], None] | None
) -> ChainReport:
    """Walk every chain that has a head, and ``headless`` ones, from their checkpoints; checkpoint them if all hold.

    One query for the entries, in the same snapshot as the heads: an entry
    appended meanwhile is not taken for a removal.
    """
    # Read outside the database first: what the table must still hold.
    anchored, anchored_at, anchor_problem = anchored_entries()
    if anchor_problem:
        return ChainReport(0, 0, anchor_problem)
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # The planner cannot know how few entries follow the checkpoints; its guess
            # made it JIT-compile the read, which alone took 60 ms of a 1 ms query.
            statements = ["SET LOCAL jit = off"]
            if outermost:
                statements.insert(0, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            with connection.cursor() as cursor:
                cursor.execute("; ".join(statements))
        heads, found = _heads_and_anchored(anchored)
        walks = {
            chain: _ChainWalk(chain, checkpoints.get(chain))
            for chain in sorted(set(heads) | headless | set(checkpoints))
        }
        checked = 0
        for entry in _entries_from(walks):
            walk = walks[entry.chain]
            if problem := walk.step(entry):
                return ChainReport(checked, entry.id, problem)
            checked += 1
            if progress is not None and checked % PROGRESS_EVERY == 0:
                progress(checked)
    for walk in walks.values():
        report = walk.finish(heads.get(walk.chain))
        if not report.ok:
            return ChainReport(checked, report.broken_at, report.problem)
    # Every link holds; what the database alone cannot prove is checked against the anchor.
    broken_at, problem = anchor_mismatch(anchored, anchored_at, found)
    if problem:
        return ChainReport(checked, broken_at, problem)
    _checkpoint([walk.reached for walk in walks.values() if walk.reached is not None])
    anchor_write()
    return ChainReport(sum(walk.checked for walk in walks.values()))


# The chains' heads and the entries the latest anchor names, in one read of the snapshot.
_HEADS_AND_ANCHORED = """
SELECT id, last_hash, false FROM jobs_auditchainhead
UNION ALL
SELECT entry.id, entry.hash, true FROM jobs_auditentry AS entry
JOIN unnest(%s::int[], %s::bigint[]) AS anchored (chain, entry_id)
    ON entry.chain = anchored.chain AND entry.id = anchored.entry_id
"""


def _heads_and_anchored(anchored: dict[int, tuple[int, str]]) -> tuple[dict[int, str], dict[int, str]]:
    """({chain: head hash}, {anchored entry id: its hash now})."""
    if connection.vendor != "postgresql":
        heads = dict(AuditChainHead.objects.values_list("pk", "last_hash"))
        wanted = Q(pk__in=[])
        for chain, (entry_id, _) in anchored.items():
            wanted |= Q(chain=chain, id=entry_id)
        return heads, dict(AuditEntry.objects.filter(wanted).values_list("id", "hash"))
    with connection.cursor() as cursor:
        cursor.execute(_HEADS_AND_ANCHORED, [list(anchored), [entry_id for entry_id, _ in anchored.values()]])
        rows = cursor.fetchall()
    heads = {int(key): value for key, value, is_entry in rows if not is_entry}
    return heads, {int(key): value for key, value, is_entry in rows if is_entry}


# Each chain's entries from its checkpoint on, one index range scan per chain (chain, id).
_ENTRIES_FROM = """
SELECT entry.* FROM unnest(%s::int[], %s::bigint[]) AS start (chain, entry_id)
CROSS JOIN LATERAL (
    SELECT * FROM jobs_auditentry WHERE chain = start.chain AND id >= start.entry_id ORDER BY id
) AS entry
ORDER BY entry.chain, entry.id
"""


def _entries_from(walks: dict[int, _ChainWalk]) -> Iterator[AuditEntry]:
    """The entries of every walked chain from its checkpoint (or its start), chain by chain in id order."""
    if connection.vendor == "postgresql" and any(walk.checkpoint for walk in walks.values()):
        # What came since the last verification, all of it at once.
        starts = [walk.checkpoint.entry_id if walk.checkpoint else 0 for walk in walks.values()]
        yield from AuditEntry.objects.raw(_ENTRIES_FROM, [list(walks), starts])
        return
    # A full walk: streamed with a server-side cursor.
    start = Q(pk__in=[])
    for chain, walk in walks.items():
        start |= Q(chain=chain, id__gte=walk.checkpoint.entry_id) if walk.checkpoint else Q(chain=chain)
    yield from AuditEntry.objects.filter(start).order_by("chain", "id").iterator(chunk_size=2000)


def _checkpoint(reached: list[AuditCheckpoint]) -> None:
    AuditCheckpoint.objects.bulk_create(
        reached, update_conflicts=True, unique_fields=["chain"], update_fields=["entry_id", "hash", "verified_at"]
    )
