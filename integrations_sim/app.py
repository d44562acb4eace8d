"""The integration services, simulated over real HTTP (a raw ASGI app: the hot paths are a dict lookup and
msgspec, so one process serves thousands of requests a second).

Service API (what ``backend.integrations`` speaks). Every service answers 400 {"code":"BAD_REQUEST"} to a
body it cannot read. Amounts are kopecks.

BlackList (the thesis's Рисунок 14/15; its search takes any number of ``$or`` clauses, so one request asks
about a whole batch of leads):
  POST /blacklist/api/v2/records/search  {"query":{"$or":[{"phone":"7..."},{"device_id":"..."}]}}
        -> {"records":[{"id","phone","device_id","reason","until"}],"total":N}   (matching records only)
ML (one model per request; the batch endpoint is our design — scoring services commonly offer one):
  POST /ml/api/v1/models/{DEVICE|PHONE|FACE|DOCUMENT}/score
        {"applicationNo","phone","deviceId","faceId","passportSeries","passportNumber"}
        -> {"applicationNo","model","score":0..1,"decision":"APPROVE"|"REJECT"}
  POST /ml/api/v1/models/{model}/score-batch {"items":[...]} -> {"results":[...]}
Products "Abram" (borrower type and the products available to the client):
  POST /products/api/v1/offers {"applicationNo","phone","clientType","productType","requestedAmount"}
        -> {"applicationNo","borrowerType","products":[{"code","minAmount","maxAmount","ratePercent","termDays"}]}
  POST /products/api/v1/offers-batch {"items":[...]} -> {"results":[...]}
Client data "Casper" (looked up by phone, device id and passport):
  POST /client-data/api/v1/clients/lookup {"applicationNo","phone","deviceId","passportSeries","passportNumber"}
        -> {"applicationNo","found":bool,"client":{...}|null}
  POST /client-data/api/v1/clients/lookup-batch {"items":[...]} -> {"results":[...]}

Control endpoints (tests, the bench, demos; ``integrations_sim.client.SimControl`` wraps them):
  GET  /_health                    -> {"status":"OK"}
  POST /_control/reset             -> default faults and verdicts, counters zeroed
  POST /_control/faults/{service|all} {"latencyMs","errorRate","errorStatus","status","failNext","hang",
                                   "garbage"} -> that service's faults (fields given change, others stay)
  POST /_control/verdicts          {"blacklistPhones":[..],"blacklistDevices":[..],"mlReject":{model:[appNo]},
                                   "mlRejectRate":{model:p},"products":{clientType:[code]},
                                   "clientData":{phone:{...}},"clientDataSynthesize":bool} -> the verdicts
  GET  /_control/stats             -> {service: {"requests","leads","inFlight","maxInFlight","faulted"}}
  GET  /_control/answered          -> {"blacklist":[phones],"ml:PHONE":[applicationNo],"products":[..],
                                   "client-data":[..]}: the leads that got a real answer (200 with the service's
                                   JSON) since the last reset — not an injected error, hang or garbage

The integration exchange's push receiver (``/exchange/{name}/push`` and its control endpoints under
``/_exchange/{name}/``) is ``integrations_sim.receiver``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from integrations_sim.model import MODELS, SERVICES, Faults, World
from integrations_sim.receiver import Receiver, wait_disconnect

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_json = msgspec.json.Encoder()
_decode = msgspec.json.Decoder()
_HEADERS = [(b"content-type", b"application/json")]
GARBAGE = (b"<html><body>502 Bad Gateway</body></html>", b'{"results": 42, "records": "nope"}',
           b'{"applicationNo": 1, "sco', b"null")
HANG_SECONDS = 120.0


class BadRequest(Exception):
    pass


class Simulator:
    def __init__(self) -> None:
        self.world = World()
        self.random = random.Random(13)  # noqa: S311 - fault injection, not security
        self.garbage_turn = 0
        self.receiver = Receiver()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        method: str = scope["method"]
        body = await _read_body(receive)
        try:
            parts = path.split("/")
            if len(parts) == 4 and parts[1] in ("exchange", "_exchange"):  # the exchange's push receiver
                status, payload = await self.exchange(scope, parts, body, receive)
            elif path.startswith("/_"):
                status, payload = self.control(method, path, body)
            else:
                service, handler = self.route(method, path)
                if handler is None:
                    status, payload = 404, _json.encode({"code": "NOT_FOUND"})
                else:
                    status, payload = await self.serve(service, handler, body, receive)
        except BadRequest as exc:
            status, payload = 400, _json.encode({"code": "BAD_REQUEST", "detail": str(exc)[:200]})
        await send({"type": "http.response.start", "status": status, "headers": _HEADERS})
        await send({"type": "http.response.body", "body": payload})

    # --- services -------------------------------------------------------------------------------------

    def route(self, method: str, path: str) -> tuple[str, Callable[[Any], tuple[int, Any]] | None]:
        service = path.split("/", 2)[1] if path.count("/") >= 2 else ""
        if method != "POST" or service not in SERVICES:
            return service, None
        rest = path[len(service) + 1:]
        w = self.world
        if service == "blacklist" and rest == "/api/v2/records/search":
            return service, self.blacklist
        if service == "ml" and rest.startswith("/api/v1/models/"):
            model, _, action = rest[len("/api/v1/models/"):].partition("/")
            if model in MODELS and action == "score":
                return service, lambda item: (1, w.ml_score(model, _obj(item)))
            if model in MODELS and action == "score-batch":
                return service, lambda body: _batch(body, lambda item: w.ml_score(model, item))
        if service == "products" and rest == "/api/v1/offers":
            return service, lambda item: (1, w.offers(_obj(item)))
        if service == "products" and rest == "/api/v1/offers-batch":
            return service, lambda body: _batch(body, w.offers)
        if service == "client-data" and rest == "/api/v1/clients/lookup":
            return service, lambda item: (1, w.client_lookup(_obj(item)))
        if service == "client-data" and rest == "/api/v1/clients/lookup-batch":
            return service, lambda body: _batch(body, w.client_lookup)
        return service, None

    def blacklist(self, body: Any) -> tuple[int, Any]:
        query = _obj(body).get("query")
        if not isinstance(query, dict):
            raise BadRequest("query must be an object")
        try:
            records = self.world.blacklist_search(query)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        clauses = query.get("$or")
        asked = [c["phone"] for c in (clauses if isinstance(clauses, list) else [query]) if c.get("phone")]
        return len({tuple(sorted(c.items())) for c in clauses}) if isinstance(clauses, list) else 1, {
            "records": records, "total": len(records), "_asked": asked}

    async def serve(self, service: str, handler: Callable[[Any], tuple[int, Any]], body: bytes,
                    receive: Receive) -> tuple[int, bytes]:
        counters, faults = self.world.counters[service], self.world.faults[service]
        counters.requests += 1
        counters.in_flight += 1
        counters.max_in_flight = max(counters.max_in_flight, counters.in_flight)
        try:
            if faults.hang:
                counters.faulted += 1
                await _until_disconnect(receive, HANG_SECONDS)
                return 504, _json.encode({"code": "HUNG"})
            if faults.latency_ms > 0:
                await asyncio.sleep(faults.latency_ms / 1000)
            error = self.injected_error(faults)
            if error is not None:
                counters.faulted += 1
                return error, _json.encode({"code": "INJECTED", "status": error})
            try:
                parsed = _decode.decode(body)
            except msgspec.DecodeError:
                raise BadRequest("body is not JSON") from None
            try:
                leads, answer = handler(parsed)
            except (KeyError, TypeError, ValueError) as exc:
                raise BadRequest(f"{type(exc).__name__}: {exc}") from None
            counters.leads += leads
            if faults.garbage:
                counters.faulted += 1
                self.garbage_turn += 1
                return 200, GARBAGE[self.garbage_turn % len(GARBAGE)]
            self.world.record_answer(*_answered(service, answer))
            return 200, _json.encode(answer)
        finally:
            counters.in_flight -= 1

    def injected_error(self, faults: Faults) -> int | None:
        if faults.status is not None:
            return faults.status
        if faults.fail_next > 0:
            faults.fail_next -= 1
            return faults.error_status
        if faults.error_rate > 0 and self.random.random() < faults.error_rate:
            return faults.error_status
        return None

    async def exchange(self, scope: Scope, parts: list[str], body: bytes, receive: Receive) -> tuple[int, bytes]:
        _, kind, name, action = parts
        if kind == "exchange":
            if action != "push" or scope["method"] != "POST":
                return 404, _json.encode({"code": "NOT_FOUND"})
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            return await self.receiver.push(name, headers, body, lambda s: wait_disconnect(receive, s))
        try:
            parsed = _decode.decode(body) if body else {}
        except msgspec.DecodeError as exc:
            raise BadRequest(str(exc)) from None
        return self.receiver.control(scope["method"], name, action, parsed)

    # --- control --------------------------------------------------------------------------------------

    def control(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        w = self.world
        if path == "/_health":
            return 200, b'{"status":"OK"}'
        if path == "/_control/stats" and method == "GET":
            return 200, _json.encode({s: c.as_dict() for s, c in w.counters.items()})
        if path == "/_control/answered" and method == "GET":
            return 200, _json.encode({k: sorted(v) for k, v in w.answered.items()})
        if method != "POST":
            return 404, _json.encode({"code": "NOT_FOUND"})
        if path == "/_control/reset":
            self.world, self.random, self.garbage_turn = World(), random.Random(13), 0  # noqa: S311
            return 200, b'{"status":"OK"}'
        changes = _obj(_decode.decode(body or b"{}"))
        if path.startswith("/_control/faults/"):
            name = path.rsplit("/", 1)[1]
            if name not in (*SERVICES, "all"):
                return 404, _json.encode({"code": "NO_SUCH_SERVICE"})
            for service in SERVICES if name == "all" else (name,):
                merged = {**msgspec.to_builtins(w.faults[service]), **changes}
                try:
                    w.faults[service] = msgspec.convert(merged, Faults)
                except msgspec.ValidationError as exc:
                    raise BadRequest(str(exc)) from None
            return 200, _json.encode({s: w.faults[s] for s in SERVICES})
        if path == "/_control/verdicts":
            try:
                w.set_verdicts(changes)
            except (ValueError, msgspec.ValidationError) as exc:
                raise BadRequest(str(exc)) from None
            return 200, _json.encode(w.verdicts)
        return 404, _json.encode({"code": "NOT_FOUND"})


def _answered(service: str, answer: dict[str, Any]) -> tuple[str, list[Any]]:
    """Which leads an answer answers: BlackList by the phones asked (the records list only the matches),
    the others by application number (ML per model)."""
    if service == "blacklist":
        return service, answer.pop("_asked", [])
    results = answer["results"] if "results" in answer else [answer]
    key = f"ml:{results[0]['model']}" if service == "ml" and results else service
    return key, [r["applicationNo"] for r in results]


def _obj(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest("body must be a JSON object")
    return value


def _batch(body: Any, one: Callable[[dict[str, Any]], dict[str, Any]]) -> tuple[int, Any]:
    items = _obj(body).get("items")
    if not isinstance(items, list):
        raise BadRequest("items must be a list")
    return len(items), {"results": [one(_obj(item)) for item in items]}


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _until_disconnect(receive: Receive, seconds: float) -> None:
    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(disconnected(), seconds)
    except TimeoutError:
        pass


def create_app() -> Simulator:
    return Simulator()
