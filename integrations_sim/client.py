"""A small client of the simulator's control endpoints, for tests, the bench and demos (synchronous: a
control call is one loopback request between the steps a test takes)."""

from __future__ import annotations

from typing import Any

import httpx

SERVICES = ("blacklist", "ml", "products", "client-data")


class SimControl:
    """``base_url`` is the simulator's root (what INTEGRATIONS_URL is set to)."""

    def __init__(self, base_url: str) -> None:
        self.url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=10)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self._http.post(path, json=body)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def reset(self) -> None:
        """Default faults (no latency, no errors) and verdicts (nobody listed, everything passes), zero counts."""
        self._post("/_control/reset", {})

    def faults(self, service: str, **faults: Any) -> dict[str, Any]:
        """Set one service's faults (the others keep theirs): latency_ms, error_rate (0..1, answered with
        error_status), error_status (500 default), status (every request answers it; None: normal),
        fail_next (the next N requests answer error_status), hang (requests never answer: the client times out),
        garbage (200 with a body that is not the service's JSON). ``service`` is one of SERVICES or "all"."""
        return self._post(f"/_control/faults/{service}", _camel(faults))

    def verdicts(self, **verdicts: Any) -> dict[str, Any]:
        """Set what the services answer (fields given replace the current ones): blacklist_phones,
        blacklist_devices, ml_reject ({model: [application_no]}), ml_reject_rate ({model: 0..1}, by a hash of
        model and application number, so stable across runs), products ({client_type: [product codes]}),
        client_data ({phone: {fields}})."""
        return self._post("/_control/verdicts", _camel(verdicts))

    def stats(self) -> dict[str, Any]:
        """Per service: requests, leads, inFlight, maxInFlight (since the last reset)."""
        response = self._http.get("/_control/stats")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def push_url(self, name: str) -> str:
        """Where the exchange should push outcomes for receiver ``name``."""
        return f"{self.url}/exchange/{name}/push"

    def receiver(self, name: str, **config: Any) -> dict[str, Any]:
        """Configure push receiver ``name``: secret (checks signatures), mode ("ok", "error", "hang"),
        error_status, fail_next."""
        return self._post(f"/_exchange/{name}/config", _camel(config))

    def pushes(self, name: str) -> dict[str, Any]:
        """{"pushes": every push received, "accepted": the delivery ids answered 2xx, first time each}."""
        response = self._http.get(f"/_exchange/{name}/pushes")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def answered(self) -> dict[str, list[Any]]:
        """The leads that got a real answer since the last reset: {"blacklist": [phones], "ml:PHONE":
        [application numbers], "products": [...], "client-data": [...]}."""
        response = self._http.get("/_control/answered")
        response.raise_for_status()
        result: dict[str, list[Any]] = response.json()
        return result

    def close(self) -> None:
        self._http.close()


def _camel(values: dict[str, Any]) -> dict[str, Any]:
    def camel(name: str) -> str:
        head, *rest = name.split("_")
        return head + "".join(part.title() for part in rest)

    return {camel(k): v for k, v in values.items()}
