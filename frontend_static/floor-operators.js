// The operators table: one row per operator, created once and then updated cell by cell (no re-render),
// filtered by campaign, team and state, optionally sorted by time in state; the clock cells tick every second.
import { $ } from "/dom.js";
import { t } from "/i18n.js";
import { clockTime, duration, now } from "/floor-clock.js";

const rows = new Map(); // id -> { tr, cells, data }
const COLUMNS = ["name", "team", "state", "inState", "campaign", "call", "calls", "inWindow", "drafts", "pop", "action"];
let onAction = () => {};

export function initOperators(actionHandler) {
  onAction = actionHandler;
  for (const id of ["filter-campaign", "filter-team", "filter-state", "sort-in-state"]) $(id).addEventListener("change", arrange);
}

function set(cell, text, title) {
  if (cell.textContent !== text) cell.textContent = text;
  if (title !== undefined && cell.title !== title) cell.title = title;
}

function actionSelect(op) {
  const select = document.createElement("select");
  select.className = "row-select";
  select.setAttribute("aria-label", `${t("colActions")}: ${op.name}`);
  fillActions(select);
  select.addEventListener("change", () => {
    const value = select.value;
    select.value = "";
    if (value) onAction(rows.get(String(op.id)).data, value);
  });
  return select;
}

function fillActions(select) {
  select.replaceChildren();
  const options = [["", t("actChoose")], ["PAUSE:BREAK", t("actPause", { r: t("reasonBREAK") })],
    ["PAUSE:TRAINING", t("actPause", { r: t("reasonTRAINING") })],
    ["PAUSE:TECHNICAL", t("actPause", { r: t("reasonTECHNICAL") })], ["READY", t("actReady")], ["END", t("actEnd")]];
  for (const [value, label] of options) {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = label;
    select.appendChild(option);
  }
}

function createRow(op) {
  const tr = document.createElement("tr");
  tr.dataset.operatorId = op.id;
  const cells = {};
  for (const name of COLUMNS) {
    const td = document.createElement("td");
    td.className = `col-${name}`;
    tr.appendChild(td);
    cells[name] = td;
  }
  cells.action.appendChild(actionSelect(op));
  $("operators-body").appendChild(tr);
  const row = { tr, cells, data: op };
  rows.set(String(op.id), row);
  return row;
}

export function upsertOperator(op) {
  const row = rows.get(String(op.id)) || createRow(op);
  row.data = op;
  const c = row.cells;
  set(c.name, op.name, op.login);
  set(c.team, op.teamName || "—", op.teamName || t("noTeam"));
  row.tr.dataset.state = op.state;
  row.tr.dataset.team = op.teamId ?? "";
  syncTeams(op);
  row.tr.dataset.campaign = op.campaignId ?? "";
  set(c.campaign, op.campaignName || "—", op.campaignName || "");
  set(c.calls, String(op.callsToday));
  set(c.inWindow, op.savedInWindowPct === null ? "—" : `${op.savedInWindowPct}%`,
      `${op.savedInWindowToday} / ${op.callsToday}`);
  set(c.drafts, op.drafts ? `${op.drafts} (${duration(now() - op.oldestDraftAt)})` : "0",
      op.oldestDraftAt ? t("oldest", { t: clockTime(op.oldestDraftAt) }) : "");
  set(c.pop, op.lastScreenPopMs === null ? "—" : `${op.lastScreenPopMs} ms`);
  tickRow(row);
  applyFilters(row);
}

function tickRow(row) {
  const op = row.data;
  const c = row.cells;
  let state = t(`supState${op.state}`);
  if (op.state === "PAUSED" && op.reason) state += ` (${t(`reason${op.reason}`)})`;
  // In rework while paused: the pause goes on underneath (and its alert still counts).
  if (op.state === "IN_REWORK" && op.presence === "PAUSED" && op.reason) {
    state += ` · ${t("supStatePAUSED")} (${t(`reason${op.reason}`)})`;
  }
  if (op.state === "WRAP_UP" && op.wrapUpDeadline) {
    const left = op.wrapUpDeadline - now();
    state += " · " + (left >= 0 ? t("left", { t: duration(left) }) : t("overdue", { t: duration(-left) }));
  }
  if (op.pendingPause) state += " → " + t(`reason${op.pendingPause}`);
  set(c.state, state, state);
  c.state.dataset.state = op.state;
  set(c.inState, op.since ? duration(now() - op.since) : "—");
  set(c.call, op.callStartedAt ? duration(now() - op.callStartedAt) : "—");
}

export function tickOperators() {
  for (const row of rows.values()) tickRow(row);
  if ($("sort-in-state").checked) arrange();
}

export function resetOperators(operators) {
  for (const [id, row] of rows) if (!operators[id]) { row.tr.remove(); rows.delete(id); }
  for (const op of Object.values(operators)) upsertOperator(op);
  arrange();
}

// The team filter offers every team an operator on the floor belongs to (added as they appear, renamed in place).
function syncTeams(op) {
  if (op.teamId === null || op.teamId === undefined) return;
  const select = $("filter-team");
  const value = String(op.teamId);
  const option = [...select.options].find((o) => o.value === value);
  if (option) {
    if (option.textContent !== op.teamName) option.textContent = op.teamName;
    return;
  }
  const added = document.createElement("option");
  added.value = value;
  added.textContent = op.teamName;
  select.appendChild(added);
}

// A row is shown when it matches every filter; checked again whenever the operator changes (a state filter
// follows the operator in and out of the state).
function applyFilters(row) {
  const campaign = $("filter-campaign").value;
  const team = $("filter-team").value;
  const state = $("filter-state").value;
  const shown = (!campaign || String(row.data.campaignId ?? "") === campaign)
    && (!team || String(row.data.teamId ?? "") === team) && (!state || row.data.state === state);
  if (row.tr.hidden === shown) row.tr.hidden = !shown;
}

export function arrange() {
  for (const row of rows.values()) applyFilters(row);
  if ($("sort-in-state").checked) {
    const ordered = [...rows.values()].sort((a, b) => (a.data.since ?? Infinity) - (b.data.since ?? Infinity));
    const body = $("operators-body");
    ordered.forEach((row, i) => { if (body.children[i] !== row.tr) body.insertBefore(row.tr, body.children[i] || null); });
  }
}

export function relabelOperators() {
  for (const row of rows.values()) {
    fillActions(row.cells.action.firstChild);
    upsertOperator(row.data);
  }
}
