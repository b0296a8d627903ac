"""Runs of data-migration operations, their per-row records, and the legacy source tables."""
from django.conf import settings
from django.db import models
from django.db.models import Q


class RunStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    ROLLED_BACK = "rolled_back", "Rolled back"
    ROLLING_BACK = "rolling_back", "Rolling back"


#: Statuses in which a (non dry) run holds its operation: at most one per operation.
ACTIVE_STATUSES = (RunStatus.PLANNED, RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.ROLLING_BACK)


class Run(models.Model):
    """One execution (or dry run) of an operation: parameters, who, status, counters and
    the keyset cursor. Counters and cursor are saved in the same transaction as each batch,
    so after a crash they describe exactly what was committed."""

    operation = models.CharField(max_length=64, db_index=True)
    params = models.JSONField(default=dict, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.PLANNED)
    dry_run = models.BooleanField(default=False)
    forced = models.BooleanField(default=False, help_text="Started with --force past a refusing check.")
    plan = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="executions",
        help_text="The dry run whose summary was confirmed before this run.",
    )
    total = models.BigIntegerField(default=0, help_text="Rows in scope when the run was planned.")
    scanned = models.BigIntegerField(default=0)
    changed = models.BigIntegerField(default=0)
    skipped = models.BigIntegerField(default=0)
    failed = models.BigIntegerField(default=0)
    options = models.JSONField(
        default=dict, blank=True, help_text="Runner options: batch_size, throttle_ms, max_rows, max_lag_ms."
    )
    totals = models.JSONField(default=dict, blank=True, help_text="Operation-specific sums (credits moved...).")
    batches = models.IntegerField(default=0)
    cursor = models.JSONField(null=True, blank=True, help_text="Primary key of the last row processed.")
    fingerprint = models.CharField(max_length=64, blank=True)
    fingerprint_data = models.JSONField(default=dict, blank=True)
    check_notes = models.JSONField(
        default=dict, blank=True, help_text="What the operation's check found before the run (orphans, constraint, phase...).",
    )
    owner = models.CharField(max_length=200, blank=True, help_text="host:pid of the process running it.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["operation"],
                condition=Q(status__in=ACTIVE_STATUSES, dry_run=False),
                name="migrations_ops_run_one_active_per_operation",
            ),
            models.CheckConstraint(
                condition=Q(scanned__gte=0, changed__gte=0, skipped__gte=0, failed__gte=0),
                name="migrations_ops_run_counters_nonneg",
            ),
        ]
        permissions = [
            ("run_migrations", "Can dry-run, execute, pause and resume migration runs"),
            ("rollback_migrations", "Can roll back migration runs"),
        ]

    def __str__(self) -> str:
        kind = "dry run" if self.dry_run else "run"
        return f"{self.operation} {kind} #{self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def percent(self) -> int:
        """Progress as a whole percentage of the rows in scope (100 when done)."""
        if self.status in (RunStatus.SUCCEEDED, RunStatus.ROLLED_BACK):
            return 100
        if not self.total:
            return 0
        return min(100, int(self.scanned * 100 / self.total))

    def summary(self) -> dict:
        """The counters a dry run and the real run that follows it must agree on."""
        return {
            "scanned": self.scanned,
            "changed": self.changed,
            "skipped": self.skipped,
            "failed": self.failed,
            "totals": dict(sorted(self.totals.items())),
        }


class RecordAction(models.TextChoices):
    CHANGED = "changed", "Changed"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"


class RunRecord(models.Model):
    """What a run did to one source row: old and new values, the rollback's input."""

    # No index of its own: (run, row_key) and (run, action) both lead with it, and each
    # index more is written once per record, thousands per batch.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="records", db_index=False)
    row_key = models.CharField(max_length=256)
    action = models.CharField(max_length=16, choices=RecordAction.choices)
    old = models.JSONField(null=True, blank=True)
    new = models.JSONField(null=True, blank=True)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    reverted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "row_key"], name="migrations_ops_runrecord_one_per_row"),
        ]
        indexes = [models.Index(fields=["run", "action"], name="migrations_ops_rec_action_idx")]

    def __str__(self) -> str:
        return f"{self.row_key}: {self.action}"


class KeyCreditsPhase(models.TextChoices):
    """Where per-key credits live, per the key credits guide's zero-downtime phases."""

    LEGACY = "legacy", "legacy: the keys table only"
    DUAL = "dual", "dual: the keys table and the key's account, in one transaction"
    CREDITS = "credits", "credits: the key's account only"


class KeyCreditsSetting(models.Model):
    """The key-credits phase: one row (id 1) that every process reads the same way (web,
    worker, beat, reports, commands). Changed only through
    ``migrations_ops.services.key_phase.key_credits_phase_set`` (audited)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    phase = models.CharField(max_length=8, choices=KeyCreditsPhase.choices, default=KeyCreditsPhase.LEGACY)
    changed_at = models.DateTimeField(null=True, blank=True)
    changed_by = models.CharField(max_length=200, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        verbose_name = "key credits phase"
        verbose_name_plural = "key credits phase"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="migrations_ops_keycreditssetting_one_row"),
            models.CheckConstraint(
                condition=Q(phase__in=KeyCreditsPhase.values), name="migrations_ops_keycreditssetting_phase_known"
            ),
        ]

    def __str__(self) -> str:
        return f"key credits phase: {self.phase}"


class KeyCreditsDebit(models.Model):
    """The idempotency key of a key_credits_debit, whichever place it wrote (the keys table
    of a key not migrated yet has no entries to find it in): the same key twice debits
    once, the same key with another amount is refused."""

    key_id = models.CharField(max_length=256)
    idempotency_key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key_id", "idempotency_key"], name="migrations_ops_keycreditsdebit_once"),
        ]

    def __str__(self) -> str:
        return f"{self.key_id}: {self.idempotency_key}"


class LegacyKey(models.Model):
    """The legacy ``keys`` table of the key credits guide (not managed by Django: created
    by ``seed_legacy`` or already present in the product's database)."""

    id = models.CharField(max_length=256, primary_key=True)
    workspace_id = models.CharField(max_length=256)
    remaining_requests = models.BigIntegerField(null=True, blank=True)
    refill_day = models.SmallIntegerField(null=True, blank=True)
    refill_amount = models.BigIntegerField(null=True, blank=True)
    last_refill_at = models.DateTimeField(null=True, blank=True)
    deleted_at_m = models.BigIntegerField(null=True, blank=True, help_text="Deletion time, ms since epoch.")

    class Meta:
        managed = False
        db_table = "keys"
        verbose_name = "legacy key"

    def __str__(self) -> str:
        return self.id


class LegacyUser(models.Model):
    """The product's legacy ``users`` table (credit system update guide): a ``credits``
    balance column with no history. Managed by Django so that the change of its default
    for new users (10 -> 100) is a normal schema migration; ``db_default`` makes the
    database column default itself change, not only Django's."""

    id = models.BigAutoField(primary_key=True)
    email = models.CharField(max_length=254)
    credits = models.IntegerField(db_default=100)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "users"
        verbose_name = "legacy user"

    def __str__(self) -> str:
        return self.email


# USD billing to credits (issue 8b) -------------------------------------------------------
from .billing_models import BillingMigrationLog, BillingMigrationStatus, LegacyUserBilling  # noqa: E402,F401
