"""A web process's copy of the floor (items kept as JSON text) answers the same snapshot as the floor the
computer publishes, whatever the deltas: supervisors joining on any web process see the same floor."""

from __future__ import annotations

import msgspec

from backend.supervision.feed import RawFloor, _frame
from backend.supervision.floor import CHART_MINUTES, Floor


def frame(seq: int, data: dict) -> bytes:
    return msgspec.json.encode({"type": "FLOOR_DELTA", "seq": seq, "data": {**data, "serverTimeMs": 1}})


DELTAS = [
    {"operators": {"7": {"id": 7, "state": "READY", "name": "Иванова Анна"}},
     "alerts": {"LONG_PAUSE:7": {"id": "LONG_PAUSE:7", "since": 5}},
     "campaigns": {"3": {"id": 3, "waiting": 10}},
     "chart": {str(m): {"minute": m, "calls": 1} for m in range(CHART_MINUTES)}},
    {"operators": {"7": {"id": 7, "state": "ON_CALL", "name": "Иванова Анна"}, "8": {"id": 8, "state": "READY"}},
     "alerts": {"LONG_PAUSE:7": None, "ERRORS_RISING": {"id": "ERRORS_RISING", "count": 12}},
     "chart": {str(CHART_MINUTES): {"minute": CHART_MINUTES, "calls": 2}},
     "errors": {"lastMinute": 12}},
    {"campaigns": {"3": None, "4": {"id": 4, "waiting": 0}}, "alerts": {"ERRORS_RISING": None}},
]


def test_the_copy_of_text_items_equals_the_published_floor_after_each_delta():
    published, copy = Floor(), RawFloor()
    for seq, delta in enumerate(DELTAS, 1):
        published.apply(delta)
        copy.apply(_frame.decode(frame(seq, delta)).data)
        assert msgspec.json.decode(msgspec.json.encode(copy.snapshot())) == published.snapshot()
    snap = msgspec.json.decode(msgspec.json.encode(copy.snapshot()))
    assert snap["alerts"] == {} and list(snap["campaigns"]) == ["4"]  # nulls removed the items
    assert len(snap["chart"]) == CHART_MINUTES and "0" not in snap["chart"]  # the oldest minute fell off
    assert snap["errors"] == {"lastMinute": 12}
