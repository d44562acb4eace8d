// The connection indicator, always visible once signed in: connected, reconnecting, or resynced (back after a
// drop, with everything missed caught up), and the time of the last event received on the server's clock.
import { $ } from "/dom.js";
import { clockTime, serverNow } from "/clock.js";
import { t } from "/i18n.js";

let state = null;
let lastEventAt = null;

export function setConnection(next) {
  state = next;
  render();
}

export function noteEvent() {
  lastEventAt = serverNow();
  render();
}

export function hideConnection() {
  state = null;
  $("connection").hidden = true;
  $("last-event").hidden = true;
}

export function render() {
  if (!state) return;
  const el = $("connection");
  el.hidden = false;
  el.textContent = t(state);
  el.dataset.state = state;
  el.classList.toggle("down", state === "reconnecting");
  const last = $("last-event");
  last.hidden = lastEventAt === null;
  if (lastEventAt !== null) last.textContent = t("lastEvent", { t: clockTime(lastEventAt) });
}
