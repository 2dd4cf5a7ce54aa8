"""`UNSET`: "this field was not given" in partial updates, as distinct from an explicit None."""

from typing import Any


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()
