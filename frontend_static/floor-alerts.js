// The alerts list: each alert appears once (highlighted, with the time it began) and is removed when the server
// clears it; nothing else in the list is touched.
import { $ } from "/dom.js";
import { t } from "/i18n.js";
import { clockTime } from "/floor-clock.js";

const items = new Map();

function text(alert) {
  const who = alert.operatorName ? `${alert.operatorName}: ` : "";
  const extra = alert.kind === "ERRORS_RISING" ? ` (${t("errorsCount", { n: alert.count })})`
    : alert.reason ? ` (${t(`reason${alert.reason}`)})` : "";
  return `${who}${t(`alert${alert.kind}`)}${extra} — ${t("since", { t: clockTime(alert.since) })}`;
}

export function setAlert(id, alert) {
  let li = items.get(id);
  if (!alert) {
    if (li) { li.el.remove(); items.delete(id); }
  } else {
    if (!li) {
      const el = document.createElement("li");
      el.dataset.alertId = id;
      el.className = `alert alert-${alert.kind}`;
      $("alerts-list").prepend(el);
      li = { el, data: alert };
      items.set(id, li);
    }
    li.data = alert;
    const next = text(alert);
    if (li.el.textContent !== next) li.el.textContent = next;
  }
  $("alerts-empty").hidden = items.size > 0;
  $("alerts-count").textContent = items.size ? String(items.size) : "";
}

export function resetAlerts(alerts) {
  for (const id of [...items.keys()]) if (!alerts[id]) setAlert(id, null);
  for (const [id, alert] of Object.entries(alerts)) setAlert(id, alert);
}

export function relabelAlerts() {
  for (const [id, li] of items) setAlert(id, li.data);
}
