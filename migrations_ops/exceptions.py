"""Typed refusals of the migration framework: each says what was wrong; nothing is written."""
from __future__ import annotations


class MigrationOpsError(Exception):
    """Base for every refusal of the framework. ``code`` is stable, for callers."""

    code = "migration_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownOperation(MigrationOpsError):
    code = "unknown_operation"


class InvalidParams(MigrationOpsError):
    code = "invalid_params"


class CheckFailed(MigrationOpsError):
    """A blocking precondition of the operation (table missing, wrong phase...)."""

    code = "check_failed"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class ActiveRunExists(MigrationOpsError):
    """Another run of the same operation is planned, running or paused."""

    code = "active_run_exists"


class RunStateError(MigrationOpsError):
    """The run is not in a state that allows this (resume a finished run, unknown id...)."""

    code = "run_state"


class StalePlan(MigrationOpsError):
    """The data changed since the dry run whose summary was confirmed."""

    code = "stale_plan"


class ConservationBroken(MigrationOpsError):
    """A batch broke what its operation declares it conserves; the batch was rolled back."""

    code = "conservation_broken"


class RollbackRefused(MigrationOpsError):
    """Rolling back would lose credits that were spent since; lists the rows."""

    code = "rollback_refused"

    def __init__(self, message: str, blockers: list[str]) -> None:
        super().__init__(message)
        self.blockers = blockers
