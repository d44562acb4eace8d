// The supervisor page's entry point: who is logged in (the login itself is on the main page, which sends
// supervisors and admins here), the floor socket, and what each snapshot and delta does to the page. Every part
// is updated in place; the clock cells tick once a second.
import { api, clearToken, getToken, onUnauthorized } from "/api.js";
import { $, showStatus } from "/dom.js";
import { currentLang, setLang, t } from "/i18n.js";
import "/supervisor-i18n.js";
import { syncClock } from "/floor-clock.js";
import { closeFloor, onFloor, openFloor } from "/floor-socket.js";
import { initOperators, relabelOperators, resetOperators, tickOperators, upsertOperator } from "/floor-operators.js";
import { relabelCampaigns, removeCampaign, resetCampaigns, upsertCampaign } from "/floor-campaigns.js";
import { relabelAlerts, resetAlerts, setAlert } from "/floor-alerts.js";
import { drawChart, resetChart, setMinute } from "/floor-chart.js";

// The floor socket's state in the header: connected, or reconnecting (the page keeps the last floor meanwhile).
function setConnection(up) {
  const el = $("connection");
  el.hidden = false;
  el.textContent = up ? t("connected") : t("reconnecting");
  el.classList.toggle("down", !up);
  el.dataset.state = up ? "connected" : "reconnecting";
}

function toLogin() {
  closeFloor();
  location.replace("/");
}

function onSnapshot(floor, serverTimeMs) {
  syncClock(serverTimeMs);
  resetOperators(floor.operators || {});
  resetCampaigns(floor.campaigns || {});
  resetAlerts(floor.alerts || {});
  resetChart(floor.chart || {});
  $("errors-last-minute").textContent = String(floor.errors?.lastMinute ?? 0);
}

function onDelta(delta) {
  syncClock(delta.serverTimeMs);
  for (const op of Object.values(delta.operators || {})) upsertOperator(op);
  for (const [id, tile] of Object.entries(delta.campaigns || {})) {
    if (tile) upsertCampaign(tile); else removeCampaign(id);
  }
  for (const [id, alert] of Object.entries(delta.alerts || {})) setAlert(id, alert);
  if (delta.chart) {
    for (const [key, bucket] of Object.entries(delta.chart)) setMinute(key, bucket);
    drawChart();
  }
  if (delta.errors) $("errors-last-minute").textContent = String(delta.errors.lastMinute);
  if (delta.operators) tickOperators();
}

async function act(op, value) {
  const base = `/api/supervisor/v1/operators/${op.id}`;
  try {
    if (value.startsWith("PAUSE:")) await api("POST", `${base}/pause`, { reason: value.slice(6) });
    else if (value === "READY") await api("POST", `${base}/unpause`);
    else if (value === "END") {
      if (!window.confirm(t("confirmEnd", { n: op.name }))) return;
      await api("POST", `${base}/endSessions`);
    }
    showStatus(t("actDone", { a: op.name }), "ok");
  } catch (err) {
    showStatus(t("actFailed", { e: err.data?.error?.code || err.status || "network" }), "error");
  }
}

async function start() {
  if (!getToken()) { toLogin(); return; }
  let me;
  try { me = await api("GET", "/api/arm/v1/me"); } catch { toLogin(); return; }
  // Whoever has the floor.view permission (by default supervisors and admins) may watch; the socket checks it.
  if (me.data.role === "operator") { location.replace("/"); return; }
  $("operator-name").textContent = `${me.data.firstName} ${me.data.lastName}`;
  $("operator-name").hidden = false;
  $("floor-view").hidden = false;
  openFloor();
}

function init() {
  onUnauthorized(() => { clearToken(); toLogin(); });
  onFloor({ snapshot: onSnapshot, delta: onDelta, connection: setConnection,
            ended: () => { clearToken(); toLogin(); }, refused: () => showStatus(t("notSupervisor"), "error") });
  setLang(currentLang());
  $("lang-toggle").textContent = currentLang() === "ru" ? "EN" : "RU";
  $("lang-toggle").addEventListener("click", () => {
    setLang(currentLang() === "ru" ? "en" : "ru");
    $("lang-toggle").textContent = currentLang() === "ru" ? "EN" : "RU";
    if ($("connection").dataset.state) setConnection($("connection").dataset.state === "connected");
    relabelOperators();
    relabelCampaigns();
    relabelAlerts();
    drawChart();
  });
  $("logout").addEventListener("click", async () => {
    try { await api("GET", "/api/arm/v1/logout"); } catch { /* over already */ }
    clearToken();
    toLogin();
  });
  initOperators(act);
  setInterval(tickOperators, 1000);
  setInterval(drawChart, 30000); // the time axis moves on even when nothing happens
  start();
}

init();
