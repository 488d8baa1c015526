"""Behaviour shared by the package's frozen configuration dataclasses."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Iterable, Tuple, Type, TypeVar

__all__ = ["FrozenConfig"]

C = TypeVar("C", bound="FrozenConfig")


class FrozenConfig:
    """Mixin for ``@dataclass(frozen=True)`` configs: strict ``from_dict``, ``to_dict``, ``replace``."""

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls: Type[C], data: Dict[str, Any]) -> C:
        """Inverse of :meth:`to_dict`; unknown keys are an error, not silently dropped."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys: {unknown}")
        return cls(**data)

    def replace(self: C, **changes: Any) -> C:
        return dataclasses.replace(self, **changes)

    def _require(self, checks: Iterable[Tuple[bool, str]]) -> None:
        """Raise ``ValueError`` naming the class for the first ``(ok, message)`` that is not ok."""
        for ok, message in checks:
            if not ok:
                raise ValueError(f"invalid {type(self).__name__}: {message}")
