// The result block of the open communication: which communication it is (call or rework), the countdown
// to the server's deadline, drafts autosaved while the operator types, and saving the result.
// When a result is saved, the handler given to initResultForm is called (main.js closes the card).
// Drafts carry the version last seen (draftVersion): the server refuses a save from another version (409),
// so a late retry of older words never overwrites newer ones; the page then saves the operator's words
// (newer by construction) again on the server's version. Only the newest save of a card may retry.
import { api } from "/api.js";
import { $, showStatus } from "/dom.js";
import { currentLang, t } from "/i18n.js";

const state = {
  current: null, // {communicationId, phone, mode: "call"|"rework", deadline, offset, fixed, draftVersion, draftSerial}
  countdownTimer: null,
  draftTimer: null,
  draftPending: false,
  retryTimer: null,
};
let savedHandler = () => {};

export function currentCommunication() { return state.current; }

// A new communication takes the form: the previous one's last words are saved first.
export function beginCommunication(communicationId, phone, mode, draftVersion) {
  flushDraft();
  state.current = {
    communicationId, phone, mode, deadline: null, offset: 0, fixed: false,
    draftVersion: Number.isInteger(draftVersion) ? draftVersion : null, draftSerial: 0,
  };
}

// The campaign's result taxonomy (status → level 1 → level 2), when it has one: the selects offer exactly its
// choices (result = status key, reason = level-1 key, reasonDetail = level-2 key); without one, the seed's
// free choices and text.
let freeOptions = null;

function fill(select, nodes, value) {
  const choose = document.createElement("option");
  choose.value = "";
  choose.textContent = t("choose");
  const options = [choose];
  for (const node of nodes) {
    const option = document.createElement("option");
    option.value = node.key;
    option.textContent = node.label || node.key;
    options.push(option);
  }
  select.replaceChildren(...options);
  select.value = nodes.some((n) => n.key === value) ? value : "";
}

function renderLevels(result) {
  const tree = state.current?.taxonomy;
  const status = tree?.find((s) => s.key === $("result-input").value);
  const level1 = status?.children || [];
  $("reason-select").hidden = !tree || level1.length === 0;
  if (tree) fill($("reason-select"), level1, result?.reason ?? $("reason-select").value);
  const chosen = level1.find((c) => c.key === $("reason-select").value);
  const level2 = chosen?.children || [];
  $("detail-select").hidden = $("detail-label").hidden = !tree || level2.length === 0;
  if (tree) fill($("detail-select"), level2, result?.reasonDetail ?? $("detail-select").value);
}

export function showResultForm(result, taxonomy = null) {
  if (freeOptions === null) freeOptions = [...$("result-input").children].map((o) => o.cloneNode(true));
  if (state.current) state.current.taxonomy = taxonomy;
  if (taxonomy) fill($("result-input"), taxonomy, result.result);
  else $("result-input").replaceChildren(...freeOptions.map((o) => o.cloneNode(true)));
  $("reason-input").hidden = Boolean(taxonomy);
  $("result-input").value = result.result || "";
  $("reason-input").value = taxonomy ? "" : result.reason || "";
  renderLevels(result);
  $("comment-input").value = result.comment || "";
  $("draft-state").textContent = "";
  $("save-result").disabled = false;
  $("result-form").hidden = false;
  renderCountdown();
}

export function endCommunication() {
  clearInterval(state.countdownTimer);
  flushDraft();
  state.current = null;
  $("result-form").hidden = true;
}

// The call has ended: the countdown runs to the server's deadline, measured on the server's clock.
export function startCountdown(deadlineEpochMs, serverTimeEpochMs) {
  state.current.deadline = deadlineEpochMs;
  state.current.offset = serverTimeEpochMs - Date.now();
  renderCountdown();
}

export function renderCountdown() {
  const el = $("countdown");
  const current = state.current;
  clearInterval(state.countdownTimer);
  if (!current || current.mode === "rework") {
    el.textContent = current ? t("reworkMode") : "";
    el.hidden = !current;
    el.classList.remove("up");
    return;
  }
  el.hidden = false;
  if (current.deadline === null) {
    el.textContent = t("onCall");
    el.classList.remove("up");
    return;
  }
  const tick = () => {
    // The server's deadline on the server's clock: the browser's clock only measures the time since.
    const left = Math.max(0, current.deadline - (Date.now() + current.offset));
    const seconds = Math.ceil(left / 1000);
    if (left <= 0) {
      el.textContent = t("timeUp");
      el.classList.add("up");
      clearInterval(state.countdownTimer);
      return;
    }
    el.textContent = t("timeLeft", { t: `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}` });
    el.dataset.secondsLeft = String(seconds);
  };
  tick();
  state.countdownTimer = setInterval(tick, 250);
}

function formResult() {
  const out = {};
  const fields = state.current?.taxonomy
    ? [["result", "result-input"], ["reason", "reason-select"], ["reasonDetail", "detail-select"],
       ["comment", "comment-input"]]
    : [["result", "result-input"], ["reason", "reason-input"], ["comment", "comment-input"]];
  for (const [key, id] of fields) {
    const value = $(id).value.trim();
    if (value) out[key] = value;
  }
  return out;
}

function scheduleDraft() {
  if (!state.current || state.current.fixed) return;
  clearTimeout(state.draftTimer);
  state.draftPending = true;
  state.draftTimer = setTimeout(() => saveDraft(state.current, formResult()), 600);
}

function flushDraft() {
  // Words typed in the last moments before the card changes or closes are saved, not dropped.
  clearTimeout(state.draftTimer);
  if (state.draftPending && state.current && !state.current.fixed) saveDraft(state.current, formResult());
  state.draftPending = false;
}

async function saveDraft(current, values, resolving = false) {
  state.draftPending = false;
  if (!current || current.fixed) return;
  // This save carries the newest words: a retry of older ones still waiting must not follow it.
  if (state.current === current) clearTimeout(state.retryTimer);
  current.draftSerial += 1;
  const serial = current.draftSerial;
  const body = { communicationId: current.communicationId, clientPhone: current.phone, communicationResult: values };
  if (current.draftVersion !== null) body.draftVersion = current.draftVersion;
  try {
    const answer = await api("POST", "/api/arm/v1/saveCommunicationDraft", body);
    const version = answer?.data?.draftVersion;
    if (Number.isInteger(version)) current.draftVersion = Math.max(current.draftVersion ?? 0, version);
    if (state.current === current && serial === current.draftSerial) {
      const time = new Date().toLocaleTimeString(currentLang());
      $("draft-state").textContent = t(resolving ? "draftConflict" : "draftSaved", { t: time });
    }
  } catch (err) {
    const error = err.data?.error;
    if (err.status === 409 && error?.code === "DRAFT_VERSION_CONFLICT") {
      const stored = error.data?.draftVersion;
      if (!Number.isInteger(stored)) return;
      current.draftVersion = Math.max(current.draftVersion ?? 0, stored);
      // A newer save of this card is on its way with newer words: this answer changes nothing more.
      if (serial !== current.draftSerial || current.fixed) return;
      // The stored draft is someone else's or older: the operator's words are newer, save them over it.
      const words = state.current === current ? formResult() : values;
      saveDraft(current, words, true);
      return;
    }
    if (err.status === 409 || err.status === 404 || err.status === 401) return;
    if (serial !== current.draftSerial) return; // a newer save carries newer words: no retry of these
    if (state.current === current) $("draft-state").textContent = t("draftFailed");
    const retry = setTimeout(() => { if (serial === current.draftSerial) saveDraft(current, values, resolving); }, 3000);
    if (state.current === current) state.retryTimer = retry; // keep the operator's words: try again
  }
}

async function onSave(event) {
  event.preventDefault();
  const current = state.current;
  if (!current) return;
  const result = formResult();
  if (!result.result) {
    showStatus(t("resultRequired"), "error");
    $("result-input").focus();
    return;
  }
  clearTimeout(state.draftTimer);
  state.draftPending = false;
  $("save-result").disabled = true;
  try {
    await api("POST", "/api/arm/v1/saveCommunicationResult", {
      communicationId: current.communicationId, clientPhone: current.phone, communicationResult: result,
    });
    current.fixed = true;
    savedHandler(current.mode === "rework");
  } catch (err) {
    $("save-result").disabled = false;
    if (err.status === 409) showStatus(t("alreadyFixed"), "error");
    else if (err.data?.error?.code === "RESULT_NOT_IN_TAXONOMY") showStatus(t("notInTaxonomy"), "error");
    else if (err.status !== 401) showStatus(t("serverError"), "error");
  }
}

// onSaved(refreshList) is called once a result is saved; refreshList is true for a card from the rework list.
export function initResultForm(onSaved) {
  savedHandler = onSaved;
  $("result-form").addEventListener("submit", onSave);
  for (const id of ["result-input", "reason-input", "reason-select", "detail-select", "comment-input"]) {
    $(id).addEventListener("input", scheduleDraft);
    $(id).addEventListener("change", scheduleDraft);
  }
  // A new status offers its own first levels, a new first level its own second levels.
  $("result-input").addEventListener("change", () => renderLevels(null));
  $("reason-select").addEventListener("change", () => renderLevels(null));
}
