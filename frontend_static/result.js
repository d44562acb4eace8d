// The result block of the open communication: which communication it is (call or rework), the countdown
// to the server's deadline, drafts autosaved while the operator types, and saving the result.
// When a result is saved, the handler given to initResultForm is called (main.js closes the card).
import { api } from "/api.js";
import { $, showStatus } from "/dom.js";
import { currentLang, t } from "/i18n.js";

const state = {
  current: null, // {communicationId, phone, mode: "call"|"rework", deadline, offset, fixed}
  countdownTimer: null,
  draftTimer: null,
  draftPending: false,
};
let savedHandler = () => {};

export function currentCommunication() { return state.current; }

// A new communication takes the form: the previous one's last words are saved first.
export function beginCommunication(communicationId, phone, mode) {
  flushDraft();
  state.current = { communicationId, phone, mode, deadline: null, offset: 0, fixed: false };
}

export function showResultForm(result) {
  $("result-input").value = result.result || "";
  $("reason-input").value = result.reason || "";
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
  for (const [key, id] of [["result", "result-input"], ["reason", "reason-input"], ["comment", "comment-input"]]) {
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

async function saveDraft(current, values) {
  state.draftPending = false;
  if (!current || current.fixed) return;
  try {
    await api("POST", "/api/arm/v1/saveCommunicationDraft", {
      communicationId: current.communicationId, clientPhone: current.phone, communicationResult: values,
    });
    if (state.current === current) {
      $("draft-state").textContent = t("draftSaved", { t: new Date().toLocaleTimeString(currentLang()) });
    }
  } catch (err) {
    if (err.status === 409 || err.status === 404 || err.status === 401) return;
    if (state.current === current) $("draft-state").textContent = t("draftFailed");
    setTimeout(() => saveDraft(current, values), 3000); // keep the operator's words: try again
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
    else if (err.status !== 401) showStatus(t("serverError"), "error");
  }
}

// onSaved(refreshList) is called once a result is saved; refreshList is true for a card from the rework list.
export function initResultForm(onSaved) {
  savedHandler = onSaved;
  $("result-form").addEventListener("submit", onSave);
  for (const id of ["result-input", "reason-input", "comment-input"]) {
    $(id).addEventListener("input", scheduleDraft);
    $(id).addEventListener("change", scheduleDraft);
  }
}
