// The connection both push channels share (the operator's socket.js, the supervisor's floor-socket.js): a
// WebSocket that says HELLO with the token and the last seq its protocol layer holds, closes itself after three
// silent heartbeats (the server pings every heartbeatSeconds) and reconnects with jittered backoff, up to 5 s.
// What the frames mean — seqs, snapshots, RESYNC — is the protocol layer's; this knows only the connection.
import { getToken } from "/api.js";

// path: the socket's URL path. hooks: lastSeq() for the HELLO; frame(frame) for each frame read; closed(code)
// answers true when the close ends the channel for good (no reconnect: session ended, refused); down() when
// the connection dropped and a reconnect is scheduled.
export function pushSocket(path, hooks) {
  const s = { ws: null, wanted: false, attempt: 0, timer: null, watchdog: null, heartbeat: 15 };

  function armWatchdog() {
    clearTimeout(s.watchdog);
    s.watchdog = setTimeout(() => { if (s.ws) s.ws.close(4000); }, s.heartbeat * 3000);
  }

  function connect() {
    if (!s.wanted || !getToken()) return;
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${proto}://${location.host}${path}`);
    s.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: "HELLO", token: getToken(), lastSeq: hooks.lastSeq() }));
    ws.onmessage = (message) => {
      if (s.ws !== ws) return;
      armWatchdog();
      let frame;
      try { frame = JSON.parse(message.data); } catch { return; }
      if (frame.type === "PING") { ws.send(JSON.stringify({ type: "PONG" })); return; }
      hooks.frame(frame);
    };
    ws.onclose = (event) => {
      if (s.ws !== ws) return;
      clearTimeout(s.watchdog);
      s.ws = null;
      if (hooks.closed(event.code) || !s.wanted) return;
      hooks.down();
      const delay = Math.min(5000, 500 * 2 ** s.attempt) * (0.5 + Math.random() / 2);
      s.attempt += 1;
      s.timer = setTimeout(connect, delay);
    };
  }

  return {
    open() {
      s.wanted = true;
      clearTimeout(s.timer);
      const old = s.ws;
      s.ws = null; // its close is not a drop: no reconnect from it
      if (old) { try { old.close(1000); } catch { /* already closed */ } }
      connect();
    },
    close() {
      s.wanted = false;
      clearTimeout(s.timer);
      clearTimeout(s.watchdog);
      if (s.ws) { try { s.ws.close(1000); } catch { /* already closed */ } }
      s.ws = null;
    },
    // HELLO_OK read: the backoff starts again, and the watchdog keeps the server's heartbeat.
    connected(heartbeatSeconds) { s.attempt = 0; s.heartbeat = heartbeatSeconds || 15; },
    // Drop this connection and reconnect (a seq gap: the protocol layer asks for a fresh start).
    reconnect() { if (s.ws) s.ws.close(4000); },
  };
}
