// Small DOM helpers shared by the page modules: element lookup, table cells, and the status line under the
// top bar. A confirmation (ok, warn) stays until the operator's next action (a key or a click anywhere);
// an error stays until what it is about is resolved (resolveStatus with its key), whatever else happens.
export const $ = (id) => document.getElementById(id);

// className "data" marks what the server sent (names, campaigns): shown as is, in any language.
export function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text ?? "—";
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

let shown = { kind: null, key: null, text: () => "" };

function render() {
  const el = $("status-message");
  const text = shown.kind ? shown.text() : "";
  el.textContent = text;
  el.className = `message ${shown.kind || ""}`;
  el.setAttribute("role", shown.kind === "error" ? "alert" : "status");
  el.hidden = !text;
}

// text: a string or a function (re-read when the language changes); key: what resolves an error.
export function showStatus(text, kind, key = null) {
  shown = { kind: text ? kind : null, key, text: typeof text === "function" ? text : () => text };
  render();
}

export function clearStatus() { showStatus("", null); }

export function resolveStatus(key) {
  if (shown.kind === "error" && shown.key === key) clearStatus();
}

export function statusKey() { return shown.kind === "error" ? shown.key : null; }

export function refreshStatus() { render(); }

// Installed once: the operator's next action ends a confirmation (the action's own handler may show another).
export function initStatus() {
  const acted = (event) => {
    if (event.type === "keydown" && ["Shift", "Control", "Alt", "Meta"].includes(event.key)) return;
    if (shown.kind && shown.kind !== "error") clearStatus();
  };
  document.addEventListener("keydown", acted, true);
  document.addEventListener("click", acted, true); // not pointerdown: the layout must not move mid-click
}
