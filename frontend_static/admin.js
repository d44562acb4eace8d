// The admin page: users (create, edit, lock/unlock, reset password, end sessions), teams, the role permission
// matrix and the audit log (filters, pages, CSV export). Admins land here after login (main.js routes by role).
// Every change answers with the server's row, and the page redraws from it; errors become sentences (errors.js).
import { api, clearToken, getToken, onUnauthorized } from "/api.js";
import { $, cell, showStatus } from "/dom.js";
import { errorText } from "/errors.js";
import { currentLang, locale, setLang, t } from "/i18n.js";
import "/admin-i18n.js";

const ROLES = ["operator", "supervisor", "analyst", "admin"];
const state = { me: null, users: [], teams: [], editing: null, resetting: null, perms: null, auditBefore: null };

function fail(err) { showStatus(() => errorText(err), "error"); }
function ok(text) { showStatus(text, "ok"); }
function button(label, action, id, cls = "secondary") {
  const b = document.createElement("button");
  b.type = "button";
  b.className = cls;
  b.textContent = t(label);
  b.dataset.action = action;
  b.dataset.id = String(id);
  return b;
}
function fmtTime(iso) {
  return iso ? new Date(iso).toLocaleString(locale(), { dateStyle: "short", timeStyle: "medium" }) : "—";
}

// -- tabs ---------------------------------------------------------------------------------------------------

async function showTab(name) {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.tab === name));
  }
  for (const pane of document.querySelectorAll(".pane")) pane.hidden = pane.id !== `pane-${name}`;
  if (name === "permissions") await loadPermissions();
  if (name === "audit") { fillActors(); await loadAudit(true); }
  if (name === "teams") await loadTeams();
}

// -- users --------------------------------------------------------------------------------------------------

async function loadTeams() {
  try { state.teams = (await api("GET", "/api/admin/v1/teams")).data; } catch (err) { fail(err); return; }
  const select = $("u-team");
  const current = select.value;
  select.replaceChildren(new Option(t("admNoTeam"), ""));
  for (const team of state.teams) select.appendChild(new Option(team.name, String(team.id)));
  select.value = current;
  renderTeams();
}

async function loadUsers() {
  try { state.users = (await api("GET", "/api/admin/v1/operators?limit=1000")).data; } catch (err) { fail(err); return; }
  renderUsers();
}

function renderUsers() {
  const body = $("users-body");
  body.replaceChildren();
  for (const u of state.users) {
    const tr = document.createElement("tr");
    tr.dataset.userId = String(u.id);
    cell(tr, u.login, "data");
    cell(tr, `${u.firstName} ${u.lastName}`, "data");
    cell(tr, t(`role_${u.role}`));
    cell(tr, u.teamName ?? "—", "data");
    cell(tr, t(u.locked ? "admLocked" : "admActive"), u.locked ? "locked col-state" : "col-state");
    cell(tr, String(u.liveSessions ?? 0), "col-sessions");
    const actions = cell(tr, "");
    actions.textContent = "";
    const box = document.createElement("div");
    box.className = "row-actions";
    box.append(button("admEdit", "edit", u.id), button(u.locked ? "admUnlock" : "admLock", u.locked ? "unlock" : "lock", u.id),
               button("admReset", "password", u.id), button("admEndSessions", "end", u.id));
    actions.appendChild(box);
    body.appendChild(tr);
  }
}

function resetUserForm() {
  state.editing = null;
  $("user-form").reset();
  $("u-login").disabled = false;
  $("u-password-label").hidden = false;
  $("u-cancel").hidden = true;
  $("user-form-title").textContent = t("admNewUser");
  $("u-save").textContent = t("admCreate");
}

function editUser(u) {
  state.editing = u;
  $("u-login").value = u.login;
  $("u-login").disabled = true;
  $("u-password-label").hidden = true;
  $("u-first").value = u.firstName;
  $("u-last").value = u.lastName;
  $("u-role").value = u.role;
  $("u-team").value = u.teamId ? String(u.teamId) : "";
  $("u-cancel").hidden = false;
  $("user-form-title").textContent = t("admEditUser", { l: u.login });
  $("u-save").textContent = t("admSave");
  $("u-first").focus();
}

async function onUserSubmit(event) {
  event.preventDefault();
  const teamId = $("u-team").value ? Number($("u-team").value) : null;
  const fields = { firstName: $("u-first").value.trim(), lastName: $("u-last").value.trim(), role: $("u-role").value };
  try {
    if (state.editing) {
      const u = state.editing;
      const changes = { teamId };
      for (const [k, v] of Object.entries(fields)) if (u[k] !== v) changes[k] = v;
      if (u.teamId === teamId || (u.teamId == null && teamId == null)) delete changes.teamId;
      await api("PATCH", `/api/admin/v1/operators/${u.id}`, changes);
      ok(t("admSaved"));
    } else {
      const password = $("u-password").value;
      if (password.length < 8) { showStatus(t("admPasswordRequired"), "error"); return; }
      const login = $("u-login").value.trim();
      await api("POST", "/api/admin/v1/operators", { login, password, ...fields, teamId });
      ok(t("admCreated", { l: login }));
    }
    resetUserForm();
    await loadUsers();
  } catch (err) { fail(err); }
}

async function onUserAction(event) {
  const b = event.target.closest("button[data-action]");
  if (!b) return;
  const u = state.users.find((x) => x.id === Number(b.dataset.id));
  if (!u) return;
  const base = `/api/admin/v1/operators/${u.id}`;
  try {
    if (b.dataset.action === "edit") { editUser(u); return; }
    if (b.dataset.action === "password") {
      state.resetting = u;
      $("pw-login").textContent = u.login;
      $("password-form").hidden = false;
      $("pw-input").value = "";
      $("pw-input").focus();
      return;
    }
    if (b.dataset.action === "lock") {
      if (!window.confirm(t("admConfirmLock", { l: u.login }))) return;
      await api("POST", `${base}/lock`);
      ok(t("admLockedMsg", { l: u.login }));
    } else if (b.dataset.action === "unlock") {
      await api("POST", `${base}/unlock`);
      ok(t("admUnlockedMsg", { l: u.login }));
    } else if (b.dataset.action === "end") {
      if (!window.confirm(t("admConfirmEnd", { l: u.login }))) return;
      const r = await api("POST", `${base}/end-sessions`);
      ok(t("admEnded", { n: r.data.endedSessions }));
    }
    await loadUsers();
  } catch (err) { fail(err); }
}

async function onPasswordSubmit(event) {
  event.preventDefault();
  const u = state.resetting;
  const password = $("pw-input").value;
  if (!u) return;
  if (password.length < 8) { showStatus(t("admPasswordRequired"), "error"); return; }
  try {
    await api("POST", `/api/admin/v1/operators/${u.id}/password`, { password });
    ok(t("admPasswordSet", { l: u.login }));
    $("password-form").hidden = true;
    state.resetting = null;
    await loadUsers();
  } catch (err) { fail(err); }
}

// -- teams --------------------------------------------------------------------------------------------------

function renderTeams() {
  const body = $("teams-body");
  body.replaceChildren();
  for (const team of state.teams) {
    const tr = document.createElement("tr");
    tr.dataset.teamId = String(team.id);
    cell(tr, team.name, "data");
    cell(tr, String(team.members));
    const actions = cell(tr, "");
    actions.textContent = "";
    const box = document.createElement("div");
    box.className = "row-actions";
    box.append(button("admRename", "rename", team.id), button("admDelete", "delete", team.id));
    actions.appendChild(box);
    body.appendChild(tr);
  }
}

async function onTeamSubmit(event) {
  event.preventDefault();
  try {
    await api("POST", "/api/admin/v1/teams", { name: $("t-name").value.trim() });
    $("t-name").value = "";
    ok(t("admSaved"));
    await loadTeams();
  } catch (err) { fail(err); }
}

async function onTeamAction(event) {
  const b = event.target.closest("button[data-action]");
  if (!b) return;
  const team = state.teams.find((x) => x.id === Number(b.dataset.id));
  if (!team) return;
  try {
    if (b.dataset.action === "rename") {
      const name = window.prompt(t("admRenamePrompt"), team.name);
      if (!name || name.trim() === team.name) return;
      await api("PATCH", `/api/admin/v1/teams/${team.id}`, { name: name.trim() });
    } else {
      if (!window.confirm(t("admConfirmDelete", { n: team.name }))) return;
      await api("DELETE", `/api/admin/v1/teams/${team.id}`);
    }
    ok(t("admSaved"));
    await loadTeams();
    await loadUsers();
  } catch (err) { fail(err); }
}

// -- permissions --------------------------------------------------------------------------------------------

async function loadPermissions() {
  try { state.perms = (await api("GET", "/api/admin/v1/permissions")).data; } catch (err) { fail(err); return; }
  renderPermissions();
}

function renderPermissions() {
  const body = $("permissions-body");
  body.replaceChildren();
  if (!state.perms) return;
  for (const perm of state.perms.catalogue) {
    const tr = document.createElement("tr");
    const name = document.createElement("td");
    name.innerHTML = '<div class="perm-name"></div><div class="perm-text"></div>';
    name.firstChild.textContent = perm.name;
    name.lastChild.textContent = t(`perm_${perm.name}`) === `perm_${perm.name}` ? perm.description : t(`perm_${perm.name}`);
    tr.appendChild(name);
    for (const role of ROLES) {
      const td = document.createElement("td");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.dataset.role = role;
      box.dataset.permission = perm.name;
      box.checked = state.perms.roles[role].includes(perm.name);
      box.disabled = (state.perms.protected[role] || []).includes(perm.name);
      box.setAttribute("aria-label", `${t(`role_${role}`)}: ${perm.name}`);
      td.appendChild(box);
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

async function savePermissions() {
  if (!state.perms) return;
  try {
    for (const role of ROLES) {
      const wanted = [...document.querySelectorAll(`#permissions-body input[data-role="${role}"]`)]
        .filter((b) => b.checked).map((b) => b.dataset.permission).sort();
      const had = [...state.perms.roles[role]].sort();
      if (wanted.join() !== had.join()) {
        state.perms = (await api("PUT", `/api/admin/v1/permissions/${role}`, { permissions: wanted })).data;
      }
    }
    ok(t("admPermSaved"));
    renderPermissions();
  } catch (err) { fail(err); await loadPermissions(); }
}

// -- audit log ----------------------------------------------------------------------------------------------

function fillActors() {
  const select = $("f-actor");
  const current = select.value;
  select.replaceChildren(new Option(t("admAnyone"), ""));
  for (const u of state.users) select.appendChild(new Option(u.login, String(u.id)));
  select.value = current;
}

function auditQuery() {
  const q = new URLSearchParams();
  const put = (k, v) => { if (v) q.set(k, v); };
  put("actorId", $("f-actor").value);
  put("action", $("f-action").value.trim());
  put("targetType", $("f-target-type").value.trim());
  put("targetId", $("f-target-id").value.trim());
  if ($("f-from").value) q.set("from", new Date($("f-from").value).toISOString());
  if ($("f-to").value) q.set("to", new Date($("f-to").value).toISOString());
  return q;
}

function json(value) { return value == null ? "—" : JSON.stringify(value); }

async function loadAudit(fresh) {
  const q = auditQuery();
  q.set("limit", "50");
  if (!fresh && state.auditBefore) q.set("beforeId", String(state.auditBefore));
  let page;
  try { page = (await api("GET", `/api/admin/v1/audit?${q}`)).data; } catch (err) { fail(err); return; }
  const body = $("audit-body");
  if (fresh) body.replaceChildren();
  for (const e of page.items) {
    const tr = document.createElement("tr");
    tr.dataset.auditId = String(e.id);
    cell(tr, fmtTime(e.createdAt), "nowrap");
    cell(tr, e.actorLogin ?? t("admSystem"), "data");
    cell(tr, e.action, "col-action");
    cell(tr, `${e.targetType}${e.targetId ? ` #${e.targetId}` : ""}`, "data col-target");
    cell(tr, e.clientAddr ?? "—");
    cell(tr, json(e.before), "json");
    cell(tr, json(e.after), "json");
    body.appendChild(tr);
  }
  if (fresh && !page.items.length) {
    const tr = document.createElement("tr");
    const td = cell(tr, t("admNoRows"));
    td.colSpan = 7;
    body.appendChild(tr);
  }
  state.auditBefore = page.nextBeforeId;
  $("audit-more").hidden = !page.nextBeforeId;
}

async function exportAudit() {
  try {
    const response = await fetch(`/api/admin/v1/audit/export.csv?${auditQuery()}`,
                                 { headers: { Authorization: `Bearer ${getToken()}` } });
    if (!response.ok) throw Object.assign(new Error("http"), { status: response.status, data: await response.json() });
    const url = URL.createObjectURL(await response.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = "audit.csv";
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) { fail(err); }
}

// -- page ---------------------------------------------------------------------------------------------------

function toLogin() { location.replace("/"); }

async function start() {
  if (!getToken()) { toLogin(); return; }
  try { state.me = (await api("GET", "/api/arm/v1/me")).data; } catch { toLogin(); return; }
  if (state.me.role === "operator") { toLogin(); return; }
  $("operator-name").textContent = `${state.me.firstName} ${state.me.lastName}`;
  $("operator-name").hidden = false;
  $("admin-view").hidden = false;
  await loadTeams();
  await loadUsers();
  $("u-login").focus();
}

function relabel() {
  $("lang-toggle").textContent = currentLang() === "ru" ? "EN" : "RU";
  renderUsers();
  renderTeams();
  renderPermissions();
  if (state.editing) $("user-form-title").textContent = t("admEditUser", { l: state.editing.login });
  else resetUserForm();
}

function init() {
  onUnauthorized(() => { clearToken(); toLogin(); });
  setLang(currentLang());
  $("lang-toggle").textContent = currentLang() === "ru" ? "EN" : "RU";
  $("lang-toggle").addEventListener("click", () => { setLang(currentLang() === "ru" ? "en" : "ru"); relabel(); });
  $("logout").addEventListener("click", async () => {
    try { await api("GET", "/api/arm/v1/logout"); } catch { /* over already */ }
    clearToken();
    toLogin();
  });
  for (const tab of document.querySelectorAll("[role=tab]")) tab.addEventListener("click", () => showTab(tab.dataset.tab));
  $("user-form").addEventListener("submit", onUserSubmit);
  $("u-cancel").addEventListener("click", resetUserForm);
  $("users-body").addEventListener("click", onUserAction);
  $("password-form").addEventListener("submit", onPasswordSubmit);
  $("pw-cancel").addEventListener("click", () => { $("password-form").hidden = true; state.resetting = null; });
  $("team-form").addEventListener("submit", onTeamSubmit);
  $("teams-body").addEventListener("click", onTeamAction);
  $("perm-save").addEventListener("click", savePermissions);
  $("audit-filters").addEventListener("submit", (e) => { e.preventDefault(); loadAudit(true); });
  $("audit-more").addEventListener("click", () => loadAudit(false));
  $("audit-export").addEventListener("click", exportAudit);
  start();
}

init();
