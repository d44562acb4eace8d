// The client card: who the client is, the campaign's script, their applications and loans with documents,
// and past communications. Opening a card also hands its communication to the result block (result.js).
import { api } from "/api.js";
import { $, cell } from "/dom.js";
import { fullName, maskPhone, money } from "/format.js";
import { t } from "/i18n.js";
import { beginCommunication, currentCommunication, endCommunication, showResultForm, startCountdown } from "/result.js";

export function showCard(card, mode) {
  const info = card.clientInfo;
  const comm = card.currentCommunication;
  beginCommunication(comm.id, info.phone, mode, comm.draftVersion);
  $("client-name-ru").textContent = fullName(info.fullNameRu);
  $("client-name-en").textContent = fullName(info.fullNameEn);
  $("client-phone").textContent = maskPhone(info.phone);
  $("client-citizenship").textContent = info.citizenship || "—";
  $("client-age").textContent = info.age ?? "—";
  $("client-campaign").textContent = comm.campaign?.displayName || "—";
  $("campaign-script").textContent = comm.campaign?.description || "—";
  renderProducts(card.productList || []);
  renderHistory(card.history || []);
  $("card").hidden = false;
  showResultForm(comm.result || {}, card.resultTaxonomy || null);
  $("card").focus();
}

function renderProducts(productList) {
  const products = $("products").querySelector("tbody");
  products.replaceChildren();
  for (const p of productList) {
    const row = document.createElement("tr");
    cell(row, p.doId);
    cell(row, p.startTime);
    cell(row, p.statusDict?.dictionaryValue);
    cell(row, p.productDict?.dictionaryValue);
    cell(row, money(p.requestedAmount), "nowrap");
    cell(row, money(p.approvedAmount), "nowrap");
    cell(row, `${p.term} ${p.termUnitDict?.dictionaryValue ?? ""}`.trim());
    cell(row, `${p.grace} ${p.graceUnitDict?.dictionaryValue ?? ""}`.trim());
    cell(row, p.interestRate === undefined ? "—" : `${(p.interestRate / 100).toFixed(2)}%`);
    products.appendChild(row);
    const docs = (p.filling || []).map((d) => {
      const errors = (d.errors || []).map((e) => `${e.errorDescription ?? ""}${e.advice ? ` (${e.advice})` : ""}`);
      return `${d.name}: ${d.status}${errors.length ? ` — ${errors.join("; ")}` : ""}`;
    });
    if (docs.length) {
      // Documents with their errors and advice get a full-width line under their product.
      const docRow = document.createElement("tr");
      const td = cell(docRow, `${t("documents")}: ${docs.join("\n")}`, "doc-error");
      td.colSpan = 9;
      products.appendChild(docRow);
    }
  }
}

function renderHistory(items) {
  const history = $("history").querySelector("tbody");
  history.replaceChildren();
  for (const h of items) {
    const row = document.createElement("tr");
    cell(row, h.time);
    cell(row, h.campaign?.displayName);
    cell(row, `${h.operator?.name ?? ""} ${h.operator?.lastName ?? ""}`.trim());
    cell(row, [h.result?.result, h.result?.reason, h.result?.comment].filter(Boolean).join(" · ") || t("notSaved"));
    history.appendChild(row);
  }
  if (!items.length) {
    const row = document.createElement("tr");
    cell(row, t("noHistory"), "hint").colSpan = 4;
    history.appendChild(row);
  }
}

export function closeCard() {
  endCommunication();
  $("card").hidden = true;
}

// The call in progress as a snapshot reports it ({clientCard, resultDeadlineEpochMs?, serverTimeEpochMs?}: the
// socket's HELLO_OK "current" or getClientCard); a card already shown stays as it is, with the words typed.
export function showCurrentCard(data) {
  const card = data.clientCard;
  const current = currentCommunication();
  if (!current || current.communicationId !== card.currentCommunication.id) {
    showCard(card, "call");
  }
  if (data.resultDeadlineEpochMs && currentCommunication() && currentCommunication().deadline === null) {
    // A page (re)loaded after the call ended: the countdown continues from the server's deadline.
    startCountdown(data.resultDeadlineEpochMs, data.serverTimeEpochMs);
  }
}

// The call in progress, if any, over REST (after a RESYNC).
export async function loadCurrentCard() {
  try {
    showCurrentCard((await api("GET", "/api/arm/v1/getClientCard")).data);
  } catch { /* no call in progress */ }
}
