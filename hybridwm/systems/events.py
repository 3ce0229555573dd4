"""Events recorded per sample: where a joint limit or a contact acts on the motion.

A joint limit or a contact adds a constraint force that smooth equations of motion do not
have, so discovery should not see the samples it touches. :class:`EventProbe` finds them in a
batch of MuJoCo states, the way MuJoCo itself decides:

* ``at_limit``: a limited joint is within its margin of a bound, ``q - low < margin`` or
  ``high - q < margin`` (MuJoCo's rule for making a joint-limit constraint; the margin is 0
  unless the MJCF sets one, so a joint exactly at its bound is not yet at the limit);
* ``in_contact``: ``mj_collision`` finds a contact (``data.ncon > 0``), on any body; never
  where contacts are disabled (``<flag contact="disable"/>``).

The states checked are every MuJoCo step, not only the samples: sample ``k`` is flagged when
an event holds at any MuJoCo step of the control periods on either side of it,
``[t_{k-1}, t_{k+1}]``, since a derivative estimated at ``t_k`` from its neighbours feels a
constraint force acting anywhere in that span. The flags go into ``meta["events"]`` through
:func:`hybridwm.data.encode_events`, where ``hybridwm.data.mask_rows`` and
``hybridwm discover --mask "not at_limit"`` read them.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

__all__ = ["EVENTS", "EventProbe"]

#: The events recorded per sample, in order.
EVENTS = ("at_limit", "in_contact")

_FULL = mujoco.mjtState.mjSTATE_FULLPHYSICS.value
_LIMITED = (mujoco.mjtJoint.mjJNT_HINGE.value, mujoco.mjtJoint.mjJNT_SLIDE.value)


@dataclass(frozen=True)
class EventProbe:
    """Finds joint-limit and contact events in full MuJoCo physics states of one model.

    Attributes:
        columns: (k,) columns of the limited joints' positions in a full physics state.
        low: (k,) lower bounds of those joints.
        high: (k,) upper bounds.
        margin: (k,) their limit margins.
        contacts: whether the model can make contacts (contacts enabled and at least one geom).
    """

    columns: np.ndarray
    low: np.ndarray
    high: np.ndarray
    margin: np.ndarray
    contacts: bool

    @classmethod
    def from_model(cls, model: mujoco.MjModel) -> EventProbe:
        """The probe of a compiled model (its hinge and slide joints with limits)."""
        limited = np.flatnonzero(model.jnt_limited.astype(bool) & np.isin(model.jnt_type, _LIMITED))
        disabled = bool(model.opt.disableflags & mujoco.mjtDisableBit.mjDSBL_CONTACT.value)
        return cls(
            columns=1 + model.jnt_qposadr[limited],  # a full state starts with the time
            low=model.jnt_range[limited, 0].copy(),
            high=model.jnt_range[limited, 1].copy(),
            margin=model.jnt_margin[limited].copy(),
            contacts=not disabled and model.ngeom > 0,
        )

    def step_flags(
        self, model: mujoco.MjModel, data: mujoco.MjData, states: np.ndarray
    ) -> np.ndarray:
        """Events at each state.

        Args:
            model: the compiled model.
            data: a scratch ``MjData`` of it (overwritten).
            states: (..., nstate) full physics states.

        Returns:
            (len(EVENTS), ...) booleans in :data:`EVENTS` order.
        """
        out = np.zeros((len(EVENTS), *states.shape[:-1]), dtype=bool)
        if self.columns.size:
            q = states[..., self.columns]
            hit = (q - self.low < self.margin) | (self.high - q < self.margin)
            out[0] = hit.any(axis=-1)
        if self.contacts:
            flat = states.reshape(-1, states.shape[-1])
            contact = out[1].reshape(-1)
            for i, state in enumerate(flat):
                mujoco.mj_setState(model, data, state, _FULL)
                mujoco.mj_kinematics(model, data)
                mujoco.mj_collision(model, data)
                contact[i] = data.ncon > 0
            out[1] = contact.reshape(out[1].shape)
        return out

    def sample_flags(
        self,
        model: mujoco.MjModel,
        data: mujoco.MjData,
        init: np.ndarray,
        states: np.ndarray,
        n_sub: int,
    ) -> np.ndarray:
        """Events per sample of a held-action rollout (see the module doc).

        Args:
            model: the compiled model.
            data: a scratch ``MjData`` of it (overwritten).
            init: (n, nstate) initial full physics states (the samples ``k = 0``).
            states: (n, T * n_sub, nstate) the states after each MuJoCo step.
            n_sub: MuJoCo steps per control period.

        Returns:
            (len(EVENTS), n, T + 1) booleans: sample ``k`` flagged when an event holds at any
            MuJoCo step in ``[t_{k-1}, t_{k+1}]``.
        """
        n, steps, _ = states.shape
        n_periods = steps // n_sub
        start = self.step_flags(model, data, init[:, None, :])[..., 0]  # (E, n)
        after = self.step_flags(model, data, states).reshape(len(EVENTS), n, n_periods, n_sub)
        period = after.any(axis=-1)  # (E, n, T): the steps ending in (t_k, t_{k+1}]
        period[..., 0] |= start
        period[..., 1:] |= after[..., :-1, -1]  # each period also holds its starting state
        out = np.zeros((len(EVENTS), n, n_periods + 1), dtype=bool)
        out[..., :-1] |= period
        out[..., 1:] |= period
        return out
