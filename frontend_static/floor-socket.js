// The supervisor's push channel, on the operator socket's protocol (the connection itself is push-socket.js):
// HELLO with the last seq seen; HELLO_OK (with the floor when we hold none), FLOOR_DELTA frames numbered one by
// one, RESYNC with a fresh floor; a reconnect resumes from the last seq. A seq gap (never expected) asks for a
// fresh floor by reconnecting without a seq.
import { pushSocket } from "/push-socket.js";

const state = { lastSeq: null };
let on = { snapshot() {}, delta() {}, connection() {}, ended() {}, refused() {} };

const channel = pushSocket("/api/supervisor/v1/ws", {
  lastSeq: () => state.lastSeq,
  frame: handle,
  closed(code) {
    if (code === 4401) { on.ended(); return true; }
    if (code === 4403) { on.refused(); return true; }
    return false;
  },
  down() { on.connection(false); },
});

export function onFloor(handlers) { on = handlers; }

export function openFloor() { state.lastSeq = null; channel.open(); }

export function closeFloor() { channel.close(); }

function handle(frame) {
  const data = frame.data || {};
  switch (frame.type) {
    case "HELLO_OK":
      channel.connected(data.heartbeatSeconds);
      if (data.floor) { state.lastSeq = data.lastSeq; on.snapshot(data.floor, data.serverTimeMs); }
      on.connection(true);
      return;
    case "RESYNC":
      state.lastSeq = frame.seq;
      on.snapshot(data.floor, data.serverTimeMs);
      return;
    case "FLOOR_DELTA":
      if (state.lastSeq !== null && frame.seq <= state.lastSeq) return; // seen already
      if (state.lastSeq !== null && frame.seq !== state.lastSeq + 1) { state.lastSeq = null; channel.reconnect(); return; }
      state.lastSeq = frame.seq;
      on.delta(data);
      return;
    default:
      return;
  }
}
