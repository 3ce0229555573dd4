"""The signal-name contract shared by everything that has states and actions.

Physics models, systems and torch vector fields each carry ``state_names`` and
``action_names``; :class:`NamedSignals` derives their sizes from them in one place.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["NamedSignals"]


class NamedSignals:
    """Mixin: ``n_x`` and ``n_u`` from the ``state_names`` and ``action_names`` attributes."""

    state_names: Sequence[str]
    action_names: Sequence[str]

    @property
    def n_x(self) -> int:
        """Number of states (``len(state_names)``)."""
        return len(self.state_names)

    @property
    def n_u(self) -> int:
        """Number of actions (``len(action_names)``; may be 0)."""
        return len(self.action_names)
