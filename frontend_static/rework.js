// The rework list: communications whose result was not saved in time, each with a button that opens its card.
import { api } from "/api.js";
import { showCard } from "/card.js";
import { $, cell, showStatus } from "/dom.js";
import { maskPhone } from "/format.js";
import { t } from "/i18n.js";

let loads = 0;

export async function loadRework() {
  const load = ++loads;
  let items = [];
  try { items = (await api("GET", "/api/arm/v1/listCommunications")).data.communications; } catch { return; }
  if (load !== loads) return; // a later load is on its way: an older list must not replace it
  const body = $("rework").querySelector("tbody");
  body.replaceChildren();
  for (const item of items) {
    const row = document.createElement("tr");
    row.dataset.communicationId = item.id;
    cell(row, item.time);
    cell(row, item.doId);
    cell(row, t("typeCall"));
    cell(row, item.campaign?.displayName);
    cell(row, maskPhone(item.callPhone), "nowrap");
    cell(row, t("notSaved"));
    const action = document.createElement("td");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "row-action";
    button.textContent = t("open");
    button.setAttribute("aria-label", `${t("open")}: ${item.time} ${maskPhone(item.callPhone)}`);
    button.addEventListener("click", () => openRework(item.id));
    action.appendChild(button);
    row.appendChild(action);
    body.appendChild(row);
  }
  $("rework-empty").hidden = items.length > 0;
}

async function openRework(communicationId) {
  try {
    const result = await api("POST", "/api/arm/v1/getClientCardByCommunicationId", { communicationId });
    showStatus("", "ok");
    showCard(result.data.clientCard, "rework");
  } catch (err) {
    if (err.status === 404) await loadRework();
  }
}
