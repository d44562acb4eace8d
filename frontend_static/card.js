// The client card: who the client is, the campaign's script, their applications and loans with documents,
// and past communications. Opening a card also hands its communication to the result block (result.js).
// The live call always wins: a rework card open when a call's card pops steps aside (its words are saved as a
// draft when the call's card takes the form) and is parked; the operator comes back to it after the call.
import { api } from "/api.js";
import { $, cell } from "/dom.js";
import { amountOf, documentStatus, fullName, maskPhone, money, percent, wallTime, years } from "/format.js";
import { t } from "/i18n.js";
import { beginCommunication, currentCommunication, endCommunication, showResultForm, startCountdown } from "/result.js";

let parked = null; // the communicationId of a rework card that stepped aside for a live call
let shownCard = null; // the card on screen, to re-render its formatted values when the language changes

// A live call's card: it takes the screen whatever is open; a rework card in progress is parked.
export function showCallCard(card) {
  const current = currentCommunication();
  if (current && current.mode === "rework" && !current.fixed) parked = current.communicationId;
  showCard(card, "call");
}

// The parked rework card, once (null if none): main.js reopens it when the call is over.
export function takeParked() {
  const id = parked;
  parked = null;
  return id;
}

export function parkedCard() { return parked; }

export function rerenderCard() {
  if (shownCard && !$("card").hidden) renderDetails(shownCard);
}

export function showCard(card, mode) {
  const info = card.clientInfo;
  const comm = card.currentCommunication;
  beginCommunication(comm.id, info.phone, mode, comm.draftVersion);
  shownCard = card;
  renderDetails(card);
  $("card").hidden = false;
  showResultForm(comm.result || {}, card.resultTaxonomy || null);
  $("card").focus(); // the keyboard is on the card the moment it pops
}

function renderDetails(card) {
  const info = card.clientInfo;
  const comm = card.currentCommunication;
  $("client-name-ru").textContent = fullName(info.fullNameRu);
  $("client-name-en").textContent = fullName(info.fullNameEn);
  $("client-phone").textContent = maskPhone(info.phone);
  $("client-citizenship").textContent = info.citizenship || "—";
  $("client-age").textContent = years(info.age);
  $("client-campaign").textContent = comm.campaign?.displayName || "—";
  $("campaign-script").textContent = comm.campaign?.description || "—";
  renderProducts(card.productList || []);
  renderHistory(card.history || []);
}

function renderProducts(productList) {
  const products = $("products").querySelector("tbody");
  products.replaceChildren();
  for (const p of productList) {
    const row = document.createElement("tr");
    cell(row, p.doId, "data");
    cell(row, wallTime(p.startTime));
    cell(row, p.statusDict?.dictionaryValue, "data");
    cell(row, p.productDict?.dictionaryValue, "data");
    cell(row, money(p.requestedAmount), "nowrap");
    cell(row, money(p.approvedAmount), "nowrap");
    cell(row, amountOf(p.term, p.termUnitDict), "term");
    cell(row, amountOf(p.grace, p.graceUnitDict), "grace");
    cell(row, percent(p.interestRate), "nowrap");
    products.appendChild(row);
    const docs = (p.filling || []).map((d) => {
      const errors = (d.errors || []).map((e) => `${e.errorDescription ?? ""}${e.advice ? ` (${e.advice})` : ""}`);
      return `${d.name}: ${documentStatus(d.status)}${errors.length ? ` — ${errors.join("; ")}` : ""}`;
    });
    if (docs.length) {
      // Documents with their errors and advice get a full-width line under their product.
      const docRow = document.createElement("tr");
      const td = cell(docRow, `${t("documents")}: ${docs.join("\n")}`, "doc-error data wrap");
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
    cell(row, wallTime(h.time));
    cell(row, h.campaign?.displayName, "data wrap");
    cell(row, `${h.operator?.name ?? ""} ${h.operator?.lastName ?? ""}`.trim(), "data");
    const result = [h.result?.result, h.result?.reason, h.result?.comment].filter(Boolean).join(" · ");
    cell(row, result || t("notSaved"), result ? "data wrap" : "");
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
  shownCard = null;
  $("card").hidden = true;
}

// The call in progress as a snapshot reports it ({clientCard, resultDeadlineEpochMs?, serverTimeEpochMs?}: the
// socket's HELLO_OK "current" or getClientCard); a card already shown stays as it is, with the words typed.
export function showCurrentCard(data) {
  const card = data.clientCard;
  const current = currentCommunication();
  if (!current || current.communicationId !== card.currentCommunication.id) {
    showCallCard(card);
  }
  if (data.resultDeadlineEpochMs && currentCommunication() && currentCommunication().deadline === null) {
    // A page (re)loaded after the call ended: the countdown continues from the server's deadline.
    startCountdown(data.resultDeadlineEpochMs, data.serverTimeEpochMs);
  }
}

// The call in progress, if any, over REST (after a RESYNC): between calls the answer has no data.
export async function loadCurrentCard() {
  let answer;
  try { answer = await api("GET", "/api/arm/v1/getClientCard"); } catch { return; /* reported elsewhere */ }
  if (answer && answer.data) showCurrentCard(answer.data);
}
