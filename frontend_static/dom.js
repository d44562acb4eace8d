// Small DOM helpers shared by the page modules: element lookup, table cells, the status line under the
// top bar and the connection indicator.
import { t } from "/i18n.js";

export const $ = (id) => document.getElementById(id);

export function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text ?? "—";
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

export function showStatus(text, kind) {
  const el = $("status-message");
  el.textContent = text;
  el.className = `message ${kind}`;
  el.hidden = !text;
}

export function setConnection(up) {
  const el = $("connection");
  el.hidden = false;
  el.textContent = up ? t("connected") : t("reconnecting");
  el.classList.toggle("down", !up);
  el.dataset.state = up ? "connected" : "reconnecting";
}
