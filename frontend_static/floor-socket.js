// The supervisor's push channel, on the operator socket's protocol: HELLO with the token and the last seq seen;
// HELLO_OK (with the floor when we hold none), FLOOR_DELTA frames numbered one by one, RESYNC with a fresh
// floor, PINGs answered; three silent heartbeats close it and it reconnects with backoff, resuming from the
// last seq. A seq gap (never expected) asks for a fresh floor by reconnecting without a seq.
import { getToken } from "/api.js";

const state = { lastSeq: null, ws: null, wanted: false, attempt: 0, timer: null, watchdog: null, heartbeat: 15 };
let on = { snapshot() {}, delta() {}, connection() {}, ended() {}, refused() {} };

export function onFloor(handlers) { on = handlers; }

export function openFloor() { state.wanted = true; state.lastSeq = null; connect(); }

export function closeFloor() {
  state.wanted = false;
  clearTimeout(state.timer);
  clearTimeout(state.watchdog);
  if (state.ws) { try { state.ws.close(1000); } catch { /* closed */ } }
  state.ws = null;
}

function connect() {
  if (!state.wanted || !getToken()) return;
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/api/supervisor/v1/ws`);
  state.ws = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: "HELLO", token: getToken(), lastSeq: state.lastSeq }));
  ws.onmessage = (message) => {
    armWatchdog();
    let frame;
    try { frame = JSON.parse(message.data); } catch { return; }
    handle(ws, frame);
  };
  ws.onclose = (event) => {
    if (state.ws !== ws) return;
    clearTimeout(state.watchdog);
    state.ws = null;
    if (event.code === 4401) { on.ended(); return; }
    if (event.code === 4403) { on.refused(); return; }
    if (!state.wanted) return;
    on.connection(false);
    const delay = Math.min(5000, 500 * 2 ** state.attempt) * (0.5 + Math.random() / 2);
    state.attempt += 1;
    state.timer = setTimeout(connect, delay);
  };
}

function armWatchdog() {
  clearTimeout(state.watchdog);
  state.watchdog = setTimeout(() => { if (state.ws) state.ws.close(4000); }, state.heartbeat * 3000);
}

function handle(ws, frame) {
  const data = frame.data || {};
  switch (frame.type) {
    case "HELLO_OK":
      state.attempt = 0;
      state.heartbeat = data.heartbeatSeconds || 15;
      if (data.floor) { state.lastSeq = data.lastSeq; on.snapshot(data.floor, data.serverTimeMs); }
      on.connection(true);
      return;
    case "RESYNC":
      state.lastSeq = frame.seq;
      on.snapshot(data.floor, data.serverTimeMs);
      return;
    case "FLOOR_DELTA":
      if (state.lastSeq !== null && frame.seq <= state.lastSeq) return; // seen already
      if (state.lastSeq !== null && frame.seq !== state.lastSeq + 1) { state.lastSeq = null; ws.close(4000); return; }
      state.lastSeq = frame.seq;
      on.delta(data);
      return;
    case "PING":
      ws.send(JSON.stringify({ type: "PONG" }));
      return;
    default:
      return;
  }
}
