"""Consent: read the user's choices from GA4 event data and apply CONSENT_POLICY (DESIGN §3.4)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from lib.errors import Reason, SkippedEvent

__all__ = ["Consent", "denies_storage", "opt_out_from_consent", "read_consent"]

_SIGNALS: Final = ("ad_storage", "analytics_storage", "ad_user_data", "ad_personalization")

# Consent Mode v2 `gcd`: the letters at positions 2, 4, 6 and 8 are ad_storage,
# analytics_storage, ad_user_data and ad_personalization; each encodes default and update.
# Only the resulting state matters here; `l` (not set) and unknown letters say nothing.
_GCD_POSITIONS: Final = dict(zip(_SIGNALS, (2, 4, 6, 8), strict=True))
_GCD_STATE: Final[Mapping[str, bool]] = {
    **dict.fromkeys("tvrn", True),  # granted by default or by update
    **dict.fromkeys("pqmu", False),  # denied by default or by update
}
# Legacy `gcs` is `G1xy`: x = ad_storage, y = analytics_storage.
_GCS_POSITIONS: Final = {"ad_storage": 2, "analytics_storage": 3}
_GCS_STATE: Final[Mapping[str, bool]] = {"1": True, "0": False}
# An explicit consent_state (added by our publish tag) spells states out.
_EXPLICIT_STATE: Final[Mapping[Any, bool]] = {"granted": True, "denied": False, True: True, False: False}
_NPA_ON: Final = frozenset({"1", "true"})


@dataclass(frozen=True)
class Consent:
    """Each signal is True (granted), False (denied) or None (not known)."""

    ad_storage: bool | None = None
    analytics_storage: bool | None = None
    ad_user_data: bool | None = None
    ad_personalization: bool | None = None
    non_personalised_ads: bool = False


def _explicit(state: Any, signal: str) -> bool | None:
    value = state.get(signal) if isinstance(state, Mapping) else None
    if isinstance(value, str):
        value = value.strip().lower()
    return _EXPLICIT_STATE.get(value) if isinstance(value, str | bool) else None


def _coded(code: Any, position: int | None, states: Mapping[str, bool]) -> bool | None:
    if not isinstance(code, str) or position is None or len(code) <= position:
        return None
    return states.get(code[position])


def read_consent(event: Mapping[str, Any]) -> Consent:
    """The consent state of one GA4 event, from consent_state, x-ga-gcd, x-ga-gcs and x-ga-npa.

    Each signal comes from the most explicit source that states it: consent_state, then gcd, then gcs.
    """
    explicit, gcd, gcs = event.get("consent_state"), event.get("x-ga-gcd"), event.get("x-ga-gcs")
    states: dict[str, bool | None] = {}
    for signal in _SIGNALS:
        state = _explicit(explicit, signal)
        if state is None:
            state = _coded(gcd, _GCD_POSITIONS[signal], _GCD_STATE)
        if state is None:
            state = _coded(gcs, _GCS_POSITIONS.get(signal), _GCS_STATE)
        states[signal] = state
    npa = str(event.get("x-ga-npa", "")).strip().lower() in _NPA_ON
    return Consent(**states, non_personalised_ads=npa)


def denies_storage(consent: Consent) -> bool:
    """Whether ad_storage or ad_user_data is denied: what keeps personal data in the container."""
    return consent.ad_storage is False or consent.ad_user_data is False


def opt_out_from_consent(consent: Consent, policy: str) -> bool:
    """Apply CONSENT_POLICY: whether to send `opt_out: true`; raises SkippedEvent to not send at all.

    `respect`: ad_storage or ad_user_data denied -> not sent; ad_personalization denied or
    non-personalised ads -> opt_out. `opt_out`: anything denied -> opt_out, always sent.
    `ignore`: consent is not read.
    """
    if policy == "ignore":
        return False
    storage_denied = denies_storage(consent)
    if policy == "respect" and storage_denied:
        raise SkippedEvent(Reason.CONSENT_DENIED, "ad_storage or ad_user_data denied")
    personalisation_denied = consent.ad_personalization is False or consent.non_personalised_ads
    return personalisation_denied or storage_denied
