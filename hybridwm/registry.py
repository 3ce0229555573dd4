"""Name → object registries: every string option in hybridwm is looked up through one of these."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

from hybridwm.errors import UnknownNameError

T = TypeVar("T")

__all__ = ["Registry"]


class Registry(Mapping[str, T], Generic[T]):
    """A read-mostly mapping from names to objects whose lookup error lists every valid name.

    Args:
        kind: What the names denote, used in error messages ("system", "solver", ...).
        argument: The argument a user passes the name as, e.g. ``"--system"`` or ``"solver"``.
    """

    def __init__(self, kind: str, argument: str | None = None) -> None:
        self.kind = kind
        self.argument = argument or kind
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T, *, overwrite: bool = False) -> T:
        """Add ``obj`` under ``name``; refuses to replace an existing entry unless ``overwrite``."""
        if not isinstance(name, str) or not name:
            raise UnknownNameError(f"{self.kind} names must be non-empty strings. Got {name!r}.")
        if name in self._items and not overwrite:
            raise UnknownNameError(
                f"A {self.kind} named {name!r} is already registered; pass overwrite=True to replace it."
            )
        self._items[name] = obj
        return obj

    def __getitem__(self, name: str) -> T:
        try:
            return self._items[name]
        except (KeyError, TypeError):
            valid = ", ".join(repr(n) for n in sorted(self._items)) or "(none registered)"
            raise UnknownNameError(
                f"Unknown {self.kind} {name!r} for {self.argument}. Valid names: {valid}."
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def get(self, name: str, default: T | None = None) -> T | None:  # type: ignore[override]
        """The object registered as ``name``, or ``default`` (no error) if there is none."""
        return self._items.get(name, default)

    def check(self, name: str) -> str:
        """``name`` itself if it is registered, for config fields that hold a name::

            activation: Annotated[str, AfterValidator(ACTIVATIONS.check)] = "tanh"

        Raises:
            UnknownNameError: if it is not; the message lists every valid name.
        """
        self[name]
        return name

    def get_item(self, name: str) -> T:
        """Alias of ``registry[name]`` that reads well at call sites."""
        return self[name]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def names(self) -> list[str]:
        """Sorted list of registered names."""
        return sorted(self._items)
