"""The scale-out tests reuse the telephony tests' whole stack (simulator, telephony, web, worker)."""

from tests.integration.telephony.conftest import stack

__all__ = ["stack"]
