"""Data and invariants of the jobs system.

Every state change goes through jobs/services/; nothing here changes a job's
status by itself. The database is the source of truth: Celery messages are only
wake-ups that make a worker look for the next job to admit.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone


class Priority(models.IntegerChoices):
    """Stored as a rank so that ORDER BY priority gives critical first."""

    CRITICAL = 0, "critical"
    HIGH = 1, "high"
    NORMAL = 2, "normal"
    LOW = 3, "low"

    @classmethod
    def from_label(cls, label: str) -> Priority:
        for member in cls:
            if member.label == label:
                return member
        raise ValueError(f"priority must be one of critical, high, normal, low; got {label!r}")


# The queue of a job that did not name one (django.tasks' default queue name).
DEFAULT_QUEUE = "default"


class Status(models.TextChoices):
    WAITING_APPROVAL = "waiting_approval"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


ACTIVE_STATUSES = (Status.WAITING_APPROVAL, Status.QUEUED, Status.RUNNING)
FINAL_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.CANCELED)


class JobQuerySet(models.QuerySet):
    def queued(self) -> JobQuerySet:
        return self.filter(status=Status.QUEUED)

    def running(self) -> JobQuerySet:
        return self.filter(status=Status.RUNNING)

    def waiting(self) -> JobQuerySet:
        return self.filter(status=Status.WAITING_APPROVAL)

    def active(self) -> JobQuerySet:
        return self.filter(status__in=ACTIVE_STATUSES)

    def due(self, now=None) -> JobQuerySet:
        """Queued jobs whose retry backoff, if any, has passed, and whose entry point or priority
        is not paused (Pause)."""
        paused = Pause.objects.filter(Q(entrypoint=OuterRef("entrypoint")) | Q(priority=OuterRef("priority")))
        return self.queued().filter(next_attempt_at__lte=now or timezone.now()).filter(~Exists(paused))

    def in_admission_order(self) -> JobQuerySet:
        """Highest priority first, then the oldest (FIFO within a priority)."""
        return self.order_by("priority", "created_at", "id")


class Job(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job_key = models.CharField(max_length=255)
    entrypoint = models.CharField(max_length=200)
    params = models.JSONField(default=dict, blank=True)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=3)
    last_error = models.TextField(blank=True, default="")
    # The last failed attempt's full traceback (each attempt's is in its event).
    last_traceback = models.TextField(blank=True, default="", db_default="")
    result = models.JSONField(null=True, blank=True)
    # The queue a django.tasks task named; one admission order serves every queue.
    queue_name = models.CharField(max_length=100, default=DEFAULT_QUEUE, db_default=DEFAULT_QUEUE)
    # Why the job was canceled or force-failed, as the actor gave it.
    status_reason = models.TextField(blank=True, default="")

    issue_id = models.CharField(max_length=200, blank=True, default="")
    approval_expires_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.CharField(max_length=150, blank=True, default="")
    approved_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    # Engine bookkeeping: the retry backoff, the last wake-up published, and
    # the worker holding the job with the lease it must keep renewing.
    next_attempt_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    retried_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries")
    submitted_by = models.CharField(max_length=150, blank=True, default="")
    # Who brought the job in from a JSONL file: submittedBy is the file's word, this is ours.
    imported_by = models.CharField(max_length=150, blank=True, default="")

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "priority", "created_at"], name="job_admission_idx"),
            # Admission's exact order over queued jobs only, so a claim reads the first
            # unlocked row instead of sorting the whole queue.
            models.Index(
                fields=["priority", "created_at", "id"], condition=Q(status="queued"), name="job_queued_order_idx"
            ),
            # The approvals page: waiting jobs, soonest expiry first, without reading finished ones.
            models.Index(
                fields=["approval_expires_at", "id"],
                condition=Q(status="waiting_approval"),
                name="job_waiting_expiry_idx",
            ),
            models.Index(fields=["created_at", "id"], name="job_created_idx"),
            models.Index(fields=["entrypoint", "created_at"], name="job_entrypoint_idx"),
            models.Index(fields=["status", "lease_expires_at"], name="job_lease_idx"),
            models.Index(fields=["job_key"], name="job_key_idx"),
        ]
        constraints = [
            # One active job per jobKey: submitting it again returns that job.
            models.UniqueConstraint(
                fields=["job_key"],
                condition=Q(status__in=["waiting_approval", "queued", "running"]),
                name="job_key_unique_while_active",
            ),
            models.CheckConstraint(condition=Q(status__in=[s.value for s in Status]), name="job_status_valid"),
            models.CheckConstraint(condition=Q(max_attempts__gte=1), name="job_max_attempts_min_1"),
        ]
        permissions = [
            ("view_console", "Can read every console page"),
            ("submit_job", "Can submit jobs"),
            ("retry_job", "Can retry jobs from the DLQ"),
            ("cancel_job", "Can cancel jobs, also low-priority jobs in bulk"),
            ("clean_dlq", "Can clean expired DLQ entries"),
            ("check_approval", "Can force an approval check"),
            ("approve_job", "Can approve or reject waiting jobs"),
            ("clear_dlq", "Can clear the DLQ"),
            ("force_fail_job", "Can force-fail running jobs"),
            ("emergency", "Can run emergency procedures"),
            ("manage_config", "Can change capacity, worker and other settings"),
            ("import_jobs", "Can import jobs from JSONL"),
            ("view_audit", "Can read and export the audit trail"),
        ]

    def __str__(self) -> str:
        return f"{self.entrypoint} {self.id}"

    @property
    def priority_label(self) -> str:
        return Priority(self.priority).label

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


class DLQEntry(models.Model):
    """A job that ran out of attempts. Taking an entry out never deletes the job."""

    job = models.OneToOneField(Job, primary_key=True, on_delete=models.CASCADE, related_name="dlq_entry")
    # The job's, copied (a job's entry point never changes): the DLQ's breakdowns by entry point
    # and a bulk retry's dry run read this table alone instead of joining 100,000 failed jobs.
    entrypoint = models.CharField(max_length=200)
    reason = models.TextField()
    attempts = models.PositiveIntegerField()
    last_error = models.TextField(blank=True, default="")
    # A short hash of the error with ids and numbers taken out, to group alike failures.
    fingerprint = models.CharField(max_length=16, db_index=True)
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-added_at", "-job_id"]
        indexes = [
            models.Index(fields=["added_at", "job"], name="dlq_added_idx"),
            models.Index(fields=["reason"], name="dlq_reason_idx"),
        ]
        constraints = [
            # An entry built without its job's entry point would vanish from every breakdown.
            models.CheckConstraint(condition=~Q(entrypoint=""), name="dlq_entrypoint_set"),
        ]

    def __str__(self) -> str:
        return f"DLQ {self.job_id}: {self.reason}"

    @classmethod
    def of(cls, job: Job, **fields: Any) -> DLQEntry:
        """An unsaved entry for ``job``, carrying its entry point."""
        return cls(job=job, entrypoint=job.entrypoint, **fields)


class Event(models.Model):
    """One per transition. Names its job by id so a cleared job keeps its history."""

    type = models.CharField(max_length=40)
    job_id = models.UUIDField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["job_id", "id"], name="event_job_idx"),
            models.Index(fields=["type", "id"], name="event_type_idx"),
            # Time order with a tie-break: the incident timeline's keyset pages (and time windows).
            models.Index(fields=["created_at", "id"], name="event_created_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.job_id or ''}".strip()


class Tally(models.Model):
    """One change to a running count: jobs by status, DLQ entries, events by type, run times.

    Written by PostgreSQL triggers in the transaction that changes the counted rows
    (migration 0009), so a count read in one snapshot is exact. Rows are only
    ever inserted, never updated, so concurrent transitions never wait on one
    counter row; ``services.tallies.tallies_compact`` folds them into one row per
    name from time to time. Names: ``status:<status>``, ``dlq``, ``event:<type>``,
    ``run:<outcome>:le=<seconds>`` / ``:count`` / ``:ms``.
    """

    id = models.BigAutoField(primary_key=True)
    name = models.CharField(max_length=80)
    n = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.name} {self.n:+d}"


# Upper bounds (milliseconds) of the run-time and queue-latency histograms of JobRollup;
# one column per bound (``run_le_<ms>``, ``wait_le_<ms>``) and one above the last (``*_le_inf``).
ROLLUP_BOUNDS_MS = (10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 900000, 3600000)
ROLLUP_BUCKET_NAMES = (*(str(bound) for bound in ROLLUP_BOUNDS_MS), "inf")


class JobRollup(models.Model):
    """What ended and what started in one hour, for one entry point: the History page's only source.

    Written by a PostgreSQL statement trigger on the job table (migration 0017) in the
    transaction of the transition, one row per (hour, entry point) the statement touched:

    - a run that ended: ``succeeded`` or ``failed`` (for good), and its run time
      (completedAt - startedAt) in ``run_count``, ``run_ms`` and the ``run_le_*`` histogram;
    - a failed attempt that is tried again: ``retried``;
    - an admission: the queue latency (startedAt - the time the job became due, the
      later of createdAt and nextAttemptAt) in ``wait_count``, ``wait_ms`` and ``wait_le_*``.

    The hour is that of the transition (completedAt, updatedAt of a retry, startedAt).
    Histogram columns count the values in (previous bound, bound], not cumulatively.
    Rows are only appended, like Tally's; ``services.rollups.rollups_compact`` folds the
    rows of one (hour, entry point) into one and forgets hours older than the retention.
    """

    id = models.BigAutoField(primary_key=True)
    bucket_start = models.DateTimeField()
    entrypoint = models.CharField(max_length=200)
    succeeded = models.BigIntegerField(default=0)
    failed = models.BigIntegerField(default=0)
    retried = models.BigIntegerField(default=0)
    run_count = models.BigIntegerField(default=0)
    run_ms = models.BigIntegerField(default=0)
    wait_count = models.BigIntegerField(default=0)
    wait_ms = models.BigIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["bucket_start", "entrypoint"], name="rollup_bucket_idx")]

    def __str__(self) -> str:
        return f"{self.entrypoint} {self.bucket_start:%Y-%m-%d %H:%M}"


# The histogram columns, named by their bound: the same list drives the trigger and the reads.
for _kind in ("run", "wait"):
    for _name in ROLLUP_BUCKET_NAMES:
        JobRollup.add_to_class(f"{_kind}_le_{_name}", models.BigIntegerField(default=0))


class WorkerHeartbeat(models.Model):
    """One row per worker process, refreshed by its heartbeat thread.

    The jobs a worker runs are the AdmissionSlot rows it holds (selectors.workers_listed).
    """

    name = models.CharField(max_length=200, primary_key=True)
    hostname = models.CharField(max_length=200)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField()
    processed = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    # Jobs this process runs at once (jobs.engine.capacity): its threads, or 1 (prefork child, solo).
    concurrency = models.PositiveIntegerField(default=1)

    # Not columns: set on the rows selectors.workers_listed returns.
    alive: bool
    uptime_ms: int

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RuntimeConfig(models.Model):
    """Runtime overrides of the jobs.json settings, edited by admins. One row."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    overrides = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="jobs_config_singleton")]

    def __str__(self) -> str:
        return "jobs configuration"


class AdmissionSlot(models.Model):
    """One row per job allowed to run at once (numbers 1..maxConcurrent); see jobs.engine.admission.

    A slot is held from admission until the job's code has returned (or its
    worker's lease ran out), not until the job's status changes: a canceled or
    timed-out job whose code still runs keeps its slot, and a job that holds a
    slot is never admitted again, so no job ever runs twice at once.
    """

    number = models.PositiveIntegerField(primary_key=True)
    job_id = models.UUIDField(null=True, blank=True, unique=True)
    worker = models.CharField(max_length=200, blank=True, default="")
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["number"]
        indexes = [models.Index(fields=["worker"], name="slot_worker_idx")]

    def __str__(self) -> str:
        return f"slot {self.number}: {self.job_id or 'free'}"


class AuditEntry(models.Model):
    """Append-only, hash-chained record of every state-changing action.

    The database refuses UPDATE and DELETE on this table (see the migration that
    installs the triggers). Objects are named by id, never by foreign key.
    """

    class Outcome(models.TextChoices):
        OK = "ok"
        DENIED = "denied"

    created_at = models.DateTimeField(default=timezone.now)
    actor = models.CharField(max_length=200)
    source = models.CharField(max_length=20)  # web, api, cli, github, system
    action = models.CharField(max_length=60)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.OK)
    object_type = models.CharField(max_length=40, blank=True, default="")
    object_ids = models.JSONField(default=list, blank=True)
    reason = models.TextField(blank=True, default="")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    ip = models.CharField(max_length=64, blank=True, default="")
    user_agent = models.CharField(max_length=300, blank=True, default="")
    # Which of the AuditChainHead chains this entry extends (see services.audit).
    chain = models.PositiveSmallIntegerField(default=1)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["actor", "id"], name="audit_actor_idx"),
            models.Index(fields=["action", "id"], name="audit_action_idx"),
            # As Event's: a window of the trail in time order, read one keyset page at a time.
            models.Index(fields=["created_at", "id"], name="audit_created_id_idx"),
            models.Index(fields=["chain", "id"], name="audit_chain_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action}"


class AuditChainHead(models.Model):
    """The last hash of one of the audit trail's chains, locked while an entry is appended to it.

    The trail is several chains side by side (services.audit.AUDIT_CHAINS), so that
    concurrent transactions append to different chains instead of queueing on one row.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    last_hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"audit chain head {self.last_hash[:12]}"


class AuditCheckpoint(models.Model):
    """The last entry of one chain that a verification found intact.

    The next verification starts from here, so it costs the entries added since,
    not the whole trail; a full verification walks every chain from the start.
    """

    chain = models.PositiveSmallIntegerField(primary_key=True)
    entry_id = models.BigIntegerField()
    hash = models.CharField(max_length=64)
    checked = models.BigIntegerField(default=0)
    verified_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"chain {self.chain} verified to entry {self.entry_id}"


class ApiToken(models.Model):
    """A bearer token for the API. Only a SHA-256 of the secret is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True, default="")
    prefix = models.CharField(max_length=12)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


# Operations that stop between batches when canceled; the others run as one transaction.
CANCELABLE_OPERATION_KINDS = ("dlq.retry_all", "dlq.retry_group", "jobs.bulk_run")


class BackgroundOperation(models.Model):
    """A long action (retry all) running in a worker, with progress for the UI and API."""

    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        # No worker holds it: it waits for room below the backpressure threshold, and the
        # reconciler hands it to a worker again once there is some.
        WAITING = "waiting"
        DONE = "done"
        FAILED = "failed"
        CANCELED = "canceled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=40)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    requested_by = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # While running: the worker process running it, and the lease its heartbeat renews.
    # A lease that runs out sends the operation back to pending, to resume elsewhere.
    worker = models.CharField(max_length=200, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # An operator asked it to stop: a running operation stops between batches.
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    canceled_by = models.CharField(max_length=150, blank=True, default="")
    cancel_reason = models.TextField(blank=True, default="")

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"

    @property
    def is_final(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED, self.State.CANCELED)

    @property
    def cancelable(self) -> bool:
        """A retry-all not yet ended nor already being canceled (the others run as one transaction)."""
        return self.kind in CANCELABLE_OPERATION_KINDS and not self.is_final and self.cancel_requested_at is None

    @property
    def percent(self) -> int:
        if self.state == self.State.DONE:
            return 100
        return int(self.done * 100 / self.total) if self.total else 0


class OperationInput(models.Model):
    """What a background operation works on that is too big for its params (an upload).

    In the database, not on the web server's disk, so any worker can read it; removed
    once the operation ends.
    """

    operation = models.OneToOneField(BackgroundOperation, primary_key=True, on_delete=models.CASCADE)
    data = models.BinaryField()

    def __str__(self) -> str:
        return f"input of {self.operation_id}"


class GitHubDelivery(models.Model):
    """Webhook deliveries already applied, so a replayed X-GitHub-Delivery is a no-op."""

    delivery_id = models.CharField(max_length=100, primary_key=True)
    received_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.delivery_id


class GitHubPollState(models.Model):
    """The approval watcher's memory between beat ticks (one row, pk=1).

    Backoff and rate-limit windows live here, not in a process, so that whichever
    worker runs the next tick honours them.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_poll_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_requests = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    backoff_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    rate_limit_remaining = models.IntegerField(null=True, blank=True)
    rate_limit_reset = models.DateTimeField(null=True, blank=True)
    # ETag of "the repository's most recently updated issue": unchanged (304) means
    # no issue changed, so only issues not yet checked need a query.
    issues_etag = models.CharField(max_length=200, blank=True, default="")
    # GitHub's updated_at of that issue: "what changed since" starts there.
    issues_watermark = models.CharField(max_length=40, blank=True, default="")
    checked_issues = models.JSONField(default=list, blank=True)
    full_check_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"approval watcher (last poll {self.last_poll_at})"


class GitHubOutbox(models.Model):
    """A write to GitHub still to deliver (comment, close, label); retried by the poll.

    One row per (job, kind), so an expiry or an approval is announced once.
    """

    class Kind(models.TextChoices):
        EXPIRED = "expired"  # comment and close
        APPROVED = "approved"  # comment
        LABEL = "label"  # console approval: add the first approval label
        EXPIRING = "expiring"  # comment: expires within expiryWarningHours

    job_id = models.UUIDField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    issue_number = models.PositiveIntegerField()
    payload = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job_id", "kind"], name="github_outbox_once_per_job")]
        indexes = [models.Index(fields=["done_at", "created_at"], name="github_outbox_pending")]

    def __str__(self) -> str:
        return f"{self.kind} on #{self.issue_number} for {self.job_id}"


class ActionRequest(models.Model):
    """A destructive action one admin asked for, run only once a second admin confirms it (four eyes).

    Holds the action's validated input, so what the second admin confirms is exactly
    what was asked; it expires unconfirmed after JOBS_FOUR_EYES_MINUTES.
    """

    class State(models.TextChoices):
        PENDING = "pending"
        CONFIRMED = "confirmed"  # the second admin confirmed: the action ran (see result)
        FAILED = "failed"  # confirmed, but the action refused (message says why)
        REJECTED = "rejected"
        EXPIRED = "expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    action = models.CharField(max_length=60)
    target = models.CharField(max_length=200, blank=True, default="")
    input = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True, default="")
    requested_by = models.CharField(max_length=150)
    requested_via = models.CharField(max_length=20)  # web, api, cli
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    decided_by = models.CharField(max_length=150, blank=True, default="")
    decided_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    message = models.TextField(blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["state", "expires_at"], name="action_request_open_idx")]

    def __str__(self) -> str:
        return f"{self.action} asked by {self.requested_by} ({self.state})"


class Pause(models.Model):
    """Work held back from admission: every job of one entry point, or of one priority.

    Beside the global switch (worker.enabled): paused jobs stay queued, count for
    backpressure as before, and start again, in their order, once resumed. One row
    names either an entry point or a priority.
    """

    entrypoint = models.CharField(max_length=200, blank=True, default="")
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, null=True, blank=True)
    reason = models.TextField()
    paused_by = models.CharField(max_length=150)
    paused_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["entrypoint"], condition=~Q(entrypoint=""), name="pause_once_per_entrypoint"
            ),
            models.UniqueConstraint(
                fields=["priority"], condition=Q(priority__isnull=False), name="pause_once_per_priority"
            ),
            models.CheckConstraint(
                condition=(Q(entrypoint="") & Q(priority__isnull=False))
                | (~Q(entrypoint="") & Q(priority__isnull=True)),
                name="pause_names_one_thing",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.what} paused by {self.paused_by}"

    @property
    def what(self) -> str:
        """The paused work as people say it: "demo.sleep" or "low priority"."""
        if self.entrypoint or self.priority is None:
            return self.entrypoint
        return f"{Priority(self.priority).label} priority"


class BulkSelection(models.Model):
    """The frozen target set of a bulk action on a filter (its dry run), run later as one operation.

    Freezing copies the ids of the jobs the filter matches and the action could
    still reach, with a breakdown (entry point, status, DLQ fingerprint) and the
    effect on the queue. The run processes exactly these ids, whatever matches the
    filter by then; jobs that ended meanwhile are skipped and counted. The ids are
    one value of 16 bytes per id (an INSERT ... SELECT builds it in one statement),
    not a row per job: a hundred thousand rows of a side table, or a JSON list of
    them, cost several times more to write than the dry run may take.
    """

    class Kind(models.TextChoices):
        CANCEL = "cancel"
        RETRY = "retry"
        FORCE_FAIL = "force_fail"

    class State(models.TextChoices):
        FROZEN = "frozen"  # a dry run: nothing has changed yet
        STARTED = "started"  # run as ``operation`` (its progress and end state are the operation's)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    action = models.CharField(max_length=20, choices=Kind.choices)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    # What was asked for: the filter's fields, or {"ids": n} for picked jobs.
    filter = models.JSONField(default=dict, blank=True)
    # The frozen job ids, 16 bytes each, one after the other (see frozen_ids).
    ids = models.BinaryField(default=bytes, blank=True)
    total = models.PositiveIntegerField(default=0)
    # [[entrypoint, status, fingerprint or null, count], ...], largest first.
    breakdown = models.JSONField(default=list, blank=True)
    effect = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.FROZEN)
    operation = models.OneToOneField(
        BackgroundOperation, null=True, blank=True, on_delete=models.SET_NULL, related_name="selection"
    )
    reason = models.TextField(blank=True, default="")

    def __str__(self) -> str:
        return f"{self.action} of {self.total} jobs frozen by {self.created_by}"

    @property
    def expired(self) -> bool:
        return self.state == self.State.FROZEN and self.expires_at <= timezone.now()

    @staticmethod
    def pack_ids(ids) -> bytes:
        return b"".join(uuid.UUID(str(job_id)).bytes for job_id in ids)

    def frozen_ids(self, start: int = 0, stop: int | None = None) -> list[str]:
        """The frozen ids from position ``start`` up to ``stop``, as the run walks them."""
        packed = bytes(self.ids)
        stop = len(packed) // 16 if stop is None else min(stop, len(packed) // 16)
        return [str(uuid.UUID(bytes=packed[n * 16 : n * 16 + 16])) for n in range(start, stop)]
