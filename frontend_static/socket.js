// The operator's push channel (the connection itself is push-socket.js): HELLO carries the last seq seen, so
// the server can resume or ask for a RESYNC; frames already seen are dropped. A page that holds no state yet
// (just loaded) says HELLO without a seq and gets the state in HELLO_OK ("current", read in one step with its
// lastSeq): every later event then comes exactly once. HELLO_OK also sets the page's one clock (the server's
// time and the operators' zone). Frames for the page go to the handlers registered with onSocketEvents.
// Imports nothing of the UI.
import { setServerClock } from "/clock.js";
import { pushSocket } from "/push-socket.js";

const state = {
  lastSeq: null,
  dropped: false, // the connection went down since the last HELLO_OK: the next one resumes (resynced)
};
let handlers = { onFrame() {}, onSnapshot() {}, onConnection() {}, onSessionEnded() {} };

const channel = pushSocket("/api/arm/v1/ws", {
  lastSeq: () => state.lastSeq,
  frame: handleFrame,
  closed(code) {
    if (code !== 4401) return false;
    handlers.onSessionEnded();
    return true;
  },
  down() {
    state.dropped = true;
    handlers.onConnection(false);
  },
});

export function onSocketEvents(next) { handlers = next; }

// A page with no state yet: the first HELLO asks for the snapshot; reconnects resume from the last seq seen.
export function openSocket() {
  state.lastSeq = null;
  state.dropped = false;
  channel.open();
}

export function closeSocket() { channel.close(); }

function handleFrame(frame) {
  if (frame.seq !== null && frame.seq !== undefined && frame.type !== "RESYNC") {
    if (state.lastSeq !== null && frame.seq <= state.lastSeq) return; // seen already
    state.lastSeq = frame.seq;
  }
  const data = frame.data || {};
  switch (frame.type) {
    case "HELLO_OK":
      channel.connected(data.heartbeatSeconds);
      if (state.lastSeq === null) state.lastSeq = data.lastSeq;
      setServerClock(data.serverTimeEpochMs, data.timeZone);
      handlers.onConnection(true, state.dropped);
      state.dropped = false;
      if ("current" in data) handlers.onSnapshot(data); // the state as of data.lastSeq (a HELLO without a seq)
      return;
    case "RESYNC":
      state.lastSeq = frame.seq;
      break;
    default:
      break;
  }
  handlers.onFrame(frame);
}
