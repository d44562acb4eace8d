// The operator's own availability: READY, or PAUSED with a reason (from the end of the call when asked for
// during one), and AWAY when the server saw no socket of theirs for a while (only "Ready" brings calls back).
// The server's state comes over REST and as pushed OPERATOR_STATE frames; the call's own frames make the page
// re-read it (a call starting or ending changes it without a frame of its own). The time in the state runs
// on the server's clock (clock.js) from the server's "since".
import { api } from "/api.js";
import { duration, serverNow } from "/clock.js";
import { $, resolveStatus, showStatus } from "/dom.js";
import { errorText } from "/errors.js";
import { t } from "/i18n.js";

let current = null;
let ticker = null;

function renderSince() {
  const el = $("presence-since");
  const since = current?.since ? Date.parse(current.since) : NaN;
  el.hidden = !Number.isFinite(since);
  if (Number.isFinite(since)) el.textContent = t("inState", { d: duration(serverNow() - since) });
}

export function renderPresence(state) {
  if (state) current = state;
  if (!current) return;
  const s = current;
  $("presence").dataset.state = s.state;
  $("presence-state").textContent = s.state === "PAUSED"
    ? t("statePAUSED", { r: t(`reason${s.reason}`) }) : t(`state${s.state}`);
  const pending = $("presence-pending");
  pending.textContent = s.pendingPause ? t("pendingPause", { r: t(`reason${s.pendingPause}`) }) : "";
  pending.hidden = !s.pendingPause;
  const onCall = s.state === "ON_CALL" || s.state === "WRAP_UP";
  // "Ready" is offered whenever it would change something: out of a pause or AWAY, or to cancel a pending pause.
  $("set-ready").hidden = s.state === "READY" || (onCall && !s.pendingPause);
  renderSince();
  clearInterval(ticker);
  ticker = setInterval(renderSince, 1000);
}

export function stopPresence() {
  clearInterval(ticker);
  current = null;
}

export async function loadPresence() {
  try {
    renderPresence((await api("GET", "/api/arm/v1/operatorState")).data);
  } catch { /* a 401 ends the session; otherwise the next frame or reconnect reloads it */ }
}

async function choose(path, body) {
  try {
    renderPresence((await api("POST", path, body)).data);
    resolveStatus("presence");
  } catch (err) {
    if (err.status !== 401) showStatus(() => errorText(err), "error", "presence");
  }
}

export function initPresence() {
  $("set-ready").addEventListener("click", () => choose("/api/arm/v1/setReady"));
  $("set-pause").addEventListener("click", () => {
    const reason = $("pause-reason").value;
    if (!reason) {
      showStatus(() => t("pauseReasonRequired"), "error", "presence");
      $("pause-reason").focus();
      return;
    }
    choose("/api/arm/v1/setPause", { reason });
  });
}
