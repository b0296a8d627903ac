"""Who is responsible for a write: a staff user, an API client or a system job."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Actor:
    """The responsible party recorded on every entry and audit event."""

    label: str
    user: Any = None

    @classmethod
    def staff(cls, user: Any) -> Actor:
        return cls(label=f"staff:{user.get_username()}", user=user)

    @classmethod
    def system(cls, job: str) -> Actor:
        return cls(label=f"system:{job}")

    @classmethod
    def api(cls, client: str) -> Actor:
        return cls(label=f"api:{client}")

    @property
    def user_id(self) -> int | None:
        return getattr(self.user, "pk", None)
