// One clock for the whole page: the server's. Its offset from the browser's clock is measured when the socket
// says HELLO_OK (and again by each CALL_ENDED, which carries the database's time); every time shown — draft
// saved at, last event, time in a state, the countdown — is the server's time in the operators' time zone
// setting (OPERATOR_TIMEZONE, sent in HELLO_OK), never the browser's own clock or zone.
import { locale } from "/i18n.js";

let offset = 0;
let zone = "Europe/Moscow";

export function setServerClock(serverTimeEpochMs, timeZone) {
  if (Number.isFinite(serverTimeEpochMs)) offset = serverTimeEpochMs - Date.now();
  if (timeZone) zone = timeZone;
}

export function serverNow() { return Date.now() + offset; }

// hh:mm:ss of a moment (the server's now by default) in the operators' zone.
export function clockTime(epochMs = serverNow()) {
  return new Intl.DateTimeFormat(locale(), {
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZone: zone,
  }).format(epochMs);
}

// A span as h:mm:ss (or m:ss under an hour), digits through Intl.NumberFormat.
export function duration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const two = new Intl.NumberFormat(locale(), { minimumIntegerDigits: 2 });
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const num = new Intl.NumberFormat(locale());
  return h ? `${num.format(h)}:${two.format(m)}:${two.format(s)}` : `${num.format(m)}:${two.format(s)}`;
}
