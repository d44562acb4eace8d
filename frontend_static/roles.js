// Roles without a page of their own who sign in here get a page that says what they can do and where, not the
// operator screen (its socket and lists are for operators). Supervisors have the live floor (/supervisor.html),
// admins the admin page (/admin.html); main.js sends them there.
import { $ } from "/dom.js";
import { t } from "/i18n.js";

let role = null;

export function showRolePage(me) {
  role = me.role;
  $("role-view").hidden = false;
  renderRolePage();
  $("role-title").focus();
}

export function hideRolePage() {
  role = null;
  $("role-view").hidden = true;
}

export function renderRolePage() {
  if (!role) return;
  $("role-who").textContent = t(role === "admin" ? "roleAdmin" : "roleSupervisor");
  $("role-cli").textContent = t(role === "admin" ? "roleCli" : "roleCliAdminOnly");
}
