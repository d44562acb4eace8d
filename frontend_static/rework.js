// The rework list: communications whose result was not saved in time, each with a button that opens its card.
// While a live call is on, the list steps aside: its buttons are disabled (the call always wins) and a line
// says why; a rework card the call displaced is reopened by main.js once the call is over.
import { api } from "/api.js";
import { showCard } from "/card.js";
import { $, cell } from "/dom.js";
import { maskPhone, wallTime } from "/format.js";
import { t } from "/i18n.js";
import { currentCommunication } from "/result.js";

let loads = 0;

function liveCall() {
  const current = currentCommunication();
  return Boolean(current && current.mode === "call");
}

function applyBlocked() {
  const blocked = liveCall();
  const buttons = $("rework").querySelectorAll("button.row-action");
  for (const button of buttons) button.disabled = blocked;
  $("rework-blocked").hidden = !blocked || buttons.length === 0;
}

// Reads and shows the list; answers its items (null if it could not be read).
export async function loadRework() {
  const load = ++loads;
  let items = [];
  try { items = (await api("GET", "/api/arm/v1/listCommunications")).data.communications; } catch { return null; }
  if (load !== loads) return items; // a later load is on its way: an older list must not replace it
  const body = $("rework").querySelector("tbody");
  body.replaceChildren();
  for (const item of items) {
    const row = document.createElement("tr");
    row.dataset.communicationId = item.id;
    cell(row, wallTime(item.time));
    cell(row, item.doId, "data");
    cell(row, t("typeCall"));
    cell(row, item.campaign?.displayName, "data wrap");
    cell(row, maskPhone(item.callPhone));
    cell(row, t("notSaved"));
    const action = document.createElement("td");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "row-action";
    button.textContent = t("open");
    button.setAttribute("aria-label", `${t("open")}: ${wallTime(item.time)} ${maskPhone(item.callPhone)}`);
    button.addEventListener("click", () => openRework(item.id));
    action.appendChild(button);
    row.appendChild(action);
    body.appendChild(row);
  }
  $("rework-empty").hidden = items.length > 0;
  applyBlocked();
  return items;
}

// Opens a rework card, unless a live call is on (then nothing: the call wins). True if it opened.
export async function openRework(communicationId) {
  if (liveCall()) return false;
  try {
    const result = await api("POST", "/api/arm/v1/getClientCardByCommunicationId", { communicationId });
    if (liveCall()) return false; // a call popped while the card was loading
    showCard(result.data.clientCard, "rework");
    return true;
  } catch (err) {
    if (err.status === 404) await loadRework();
    return false;
  }
}

export function initRework() {
  document.addEventListener("tm:communication", applyBlocked);
}
