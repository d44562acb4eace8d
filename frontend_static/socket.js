// The push channel: a WebSocket that says HELLO with the token and the last seq seen, so the server can resume
// or ask for a RESYNC; drops frames already seen, answers PINGs, closes itself after three silent heartbeats
// and reconnects with backoff. A page that holds no state yet (just loaded) says HELLO without a seq and gets
// the state in HELLO_OK ("current", read in one step with its lastSeq): every later event then comes exactly
// once. HELLO_OK also sets the page's one clock (the server's time and the operators' zone). Frames for the
// page go to the handlers registered with onSocketEvents. Imports nothing of the UI.
import { getToken } from "/api.js";
import { setServerClock } from "/clock.js";

const state = {
  lastSeq: null,
  ws: null,
  wsWanted: false,
  reconnectAttempt: 0,
  reconnectTimer: null,
  watchdog: null,
  heartbeat: 15,
  dropped: false, // the connection went down since the last HELLO_OK: the next one resumes (resynced)
};
let handlers = { onFrame() {}, onSnapshot() {}, onConnection() {}, onSessionEnded() {} };

export function onSocketEvents(next) { handlers = next; }

// A page with no state yet: the first HELLO asks for the snapshot; reconnects resume from the last seq seen.
export function openSocket() {
  state.wsWanted = true;
  state.lastSeq = null;
  state.dropped = false;
  connect();
}

export function closeSocket() {
  state.wsWanted = false;
  clearTimeout(state.reconnectTimer);
  clearTimeout(state.watchdog);
  if (state.ws) { try { state.ws.close(1000); } catch { /* already closed */ } }
  state.ws = null;
}

function connect() {
  if (!state.wsWanted || !getToken()) return;
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/api/arm/v1/ws`);
  state.ws = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: "HELLO", token: getToken(), lastSeq: state.lastSeq }));
  ws.onmessage = (message) => {
    armWatchdog();
    let frame;
    try { frame = JSON.parse(message.data); } catch { return; }
    handleFrame(frame);
  };
  ws.onclose = (event) => {
    if (state.ws !== ws) return;
    clearTimeout(state.watchdog);
    state.ws = null;
    if (event.code === 4401) { handlers.onSessionEnded(); return; }
    if (!state.wsWanted) return;
    state.dropped = true;
    handlers.onConnection(false);
    const delay = Math.min(5000, 500 * 2 ** state.reconnectAttempt) * (0.5 + Math.random() / 2);
    state.reconnectAttempt += 1;
    state.reconnectTimer = setTimeout(connect, delay);
  };
}

function armWatchdog() {
  // The server pings every heartbeatSeconds: silence for three of them means the connection is dead.
  clearTimeout(state.watchdog);
  state.watchdog = setTimeout(() => { if (state.ws) state.ws.close(4000); }, state.heartbeat * 3000);
}

function rememberSeq(seq) {
  state.lastSeq = seq;
}

function handleFrame(frame) {
  if (frame.seq !== null && frame.seq !== undefined && frame.type !== "RESYNC") {
    if (state.lastSeq !== null && frame.seq <= state.lastSeq) return; // seen already
    rememberSeq(frame.seq);
  }
  const data = frame.data || {};
  switch (frame.type) {
    case "HELLO_OK":
      state.reconnectAttempt = 0;
      state.heartbeat = data.heartbeatSeconds || 15;
      if (state.lastSeq === null) rememberSeq(data.lastSeq);
      setServerClock(data.serverTimeEpochMs, data.timeZone);
      handlers.onConnection(true, state.dropped);
      state.dropped = false;
      if ("current" in data) handlers.onSnapshot(data); // the state as of data.lastSeq (a HELLO without a seq)
      return;
    case "PING":
      if (state.ws) state.ws.send(JSON.stringify({ type: "PONG" }));
      return;
    case "RESYNC":
      rememberSeq(frame.seq);
      break;
    default:
      break;
  }
  handlers.onFrame(frame);
}
