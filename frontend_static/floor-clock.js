// The server's clock as the page sees it (frames carry serverTimeMs), and durations as m:ss / h:mm:ss.
let offset = 0;

export function syncClock(serverTimeMs) { if (serverTimeMs) offset = serverTimeMs - Date.now(); }

export function now() { return Date.now() + offset; }

export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

export function clockTime(ms) {
  if (!ms) return "—";
  return new Date(ms).toLocaleTimeString("ru-RU", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}
