// The operator workstation's entry point: login and logout, which screen a role gets, what each pushed frame
// does to the page, and the wiring of the other modules. Plain ES modules, no build step, no external
// resources. Modules by role: socket/connection (the push channel and its indicator), card, result (form),
// rework (list), presence (Ready/Pause), attention, shortcuts, roles (other roles' page), i18n/errors/format.
import { api, clearToken, getToken, onUnauthorized, setToken } from "/api.js";
import { announceCall, initAttention, renderAttention } from "/attention.js";
import { closeCard, loadCurrentCard, parkedCard, rerenderCard, showCallCard, showCurrentCard, takeParked } from "/card.js";
import { hideConnection, noteEvent, render as renderConnection, setConnection } from "/connection.js";
import { $, clearStatus, initStatus, refreshStatus, showStatus } from "/dom.js";
import { errorText } from "/errors.js";
import { currentLang, locale, setLang, t } from "/i18n.js";
import { initPresence, loadPresence, renderPresence, stopPresence } from "/presence.js";
import { hideRolePage, renderRolePage, showRolePage } from "/roles.js";
import { currentCommunication, initResultForm, renderChoices, renderCountdown, startCountdown } from "/result.js";
import { initRework, loadRework, openRework } from "/rework.js";
import { initShortcuts } from "/shortcuts.js";
import { loadMyStats, renderMyStats, startMyStats, stopMyStats } from "/mystats.js";
import { closeSocket, onSocketEvents, openSocket } from "/socket.js";

// -- login / logout -----------------------------------------------------------------------------------------

function showLogin(message) {
  $("main-view").hidden = true;
  hideRolePage();
  $("logout").hidden = true;
  $("operator-name").hidden = true;
  hideConnection();
  $("login-view").hidden = false;
  const msg = $("login-message");
  msg.textContent = message || "";
  msg.hidden = !message;
  $("login-input").focus();
}

async function onLogin(event) {
  event.preventDefault();
  const login = $("login-input").value.trim();
  const password = $("password-input").value;
  const msg = $("login-message");
  if (!login || !password) {
    msg.textContent = t("required");
    msg.hidden = false;
    return;
  }
  $("login-submit").disabled = true;
  try {
    const result = await api("POST", "/api/arm/v1/login", { login, password });
    setToken(result.data.token);
    $("password-input").value = "";
    await enterMain();
  } catch (err) {
    const error = err.data?.error;
    if (error?.code === "LOGIN_THROTTLED") {
      const seconds = Number(error.data?.retryAfter);
      msg.textContent = t("throttled", { s: Number.isFinite(seconds) ? seconds_(seconds) : "" });
    } else {
      msg.textContent = errorText(err);
    }
    msg.hidden = false;
    $("password-input").focus();
  } finally {
    $("login-submit").disabled = false;
  }
}

function seconds_(n) {
  return new Intl.NumberFormat(locale(), { style: "unit", unit: "second", unitDisplay: "long" }).format(n);
}

function endSession(message) {
  closeSocket();
  clearToken();
  closeCard();
  takeParked();
  stopPresence();
  stopMyStats();
  clearStatus();
  showLogin(message);
}

async function onLogout() {
  try { await api("GET", "/api/arm/v1/logout"); } catch { /* the session may already be over */ }
  endSession("");
}

// -- main screen ----------------------------------------------------------------------------------------------

async function enterMain() {
  let me;
  try { me = await api("GET", "/api/arm/v1/me"); } catch (err) {
    if (err.status !== 401) showLogin(errorText(err));
    return;
  }
  if (me.data.role === "supervisor") {
    location.replace("/supervisor.html"); // their page is the floor, not the operator's workstation
    return;
  }
  if (me.data.role === "analyst") {
    location.replace("/reports.html"); // analysts read reports; they take no calls
    return;
  }
  if (me.data.role === "admin") {
    location.replace("/admin.html"); // users, teams, role permissions, the audit log
    return;
  }
  $("login-view").hidden = true;
  $("logout").hidden = false;
  const name = $("operator-name");
  name.textContent = `${me.data.firstName} ${me.data.lastName}`;
  name.hidden = false;
  if (me.data.role !== "operator") { // roles without a page of their own yet: what they can do, and where
    showRolePage(me.data);
    return;
  }
  $("main-view").hidden = false;
  clearStatus();
  loadRework();
  loadPresence();
  startMyStats();
  openSocket(); // the current call comes with HELLO_OK (onSnapshot), read in one step with its seq
}

// HELLO_OK of a page without state: the call in progress and the lastSeq it was read at, in one snapshot, so
// every event after it comes as a frame and none before it twice. The rework list is read after it too.
function onSnapshot(data) {
  if (data.current) showCurrentCard(data.current);
  loadRework();
}

// The live call is over (saved, or its window expired): a rework card it displaced comes back.
async function resumeParked() {
  const id = takeParked();
  if (id === null) return;
  const items = await loadRework();
  if (items && !items.some((item) => item.id === id)) return; // completed meanwhile (e.g. in another tab)
  if (await openRework(id)) showStatus(() => t("reworkResumed"), "ok");
}

function finishSaved(mode) {
  closeCard();
  showStatus(() => t("saved"), "ok");
  if (mode === "rework") loadRework();
  else resumeParked();
}

// -- pushed frames (socket.js has already dropped repeats and handled HELLO_OK and PING) ------------------------

function onFrame(frame) {
  const data = frame.data || {};
  const current = currentCommunication();
  const isCurrent = current && current.communicationId === data.communicationId;
  noteEvent();
  switch (frame.type) {
    case "CLIENT_CARD_READY":
      // Shown already (after a RESYNC's reload): showing it again would clear the words being typed.
      if (!(isCurrent && current.mode === "call")) {
        const displaced = current && current.mode === "rework";
        showCallCard(data.clientCard);
        if (displaced && parkedCard() !== null) showStatus(() => t("reworkParked"), "ok");
        announceCall();
      }
      loadPresence();
      break;
    case "CALL_ENDED":
      if (isCurrent) startCountdown(data.resultDeadlineEpochMs, data.serverTimeEpochMs);
      loadPresence();
      break;
    case "RESULT_SAVED":
      if (isCurrent && !current.fixed) finishSaved(current.mode);
      loadPresence();
      loadMyStats();
      break;
    case "RESULT_WINDOW_EXPIRED":
      if (isCurrent || !current) {
        const wasCall = isCurrent && current.mode === "call";
        closeCard();
        showStatus(() => t("expired"), "warn");
        if (wasCall) resumeParked();
      }
      loadRework();
      loadPresence();
      break;
    case "OPERATOR_STATE":
      renderPresence(data);
      break;
    case "REWORK_CHANGED":
      loadRework();
      break;
    case "RESYNC":
      setConnection("resynced");
      loadRework();
      loadCurrentCard();
      loadPresence();
      break;
    case "SESSION_ENDED":
      endSession(t("sessionEnded"));
      break;
    default:
      break;
  }
}

// -- start ---------------------------------------------------------------------------------------------------

function onLanguage() {
  $("lang-toggle").textContent = currentLang() === "ru" ? "EN" : "RU";
  renderConnection();
  renderCountdown();
  renderPresence();
  renderChoices();
  rerenderCard();
  renderRolePage();
  renderAttention();
  refreshStatus();
  renderMyStats();
  if (!$("main-view").hidden) loadRework();
}

function init() {
  onUnauthorized(() => endSession(t("sessionEnded")));
  const onConnection = (up, resumed) => {
    setConnection(up ? (resumed ? "resynced" : "connected") : "reconnecting");
    if (up) loadPresence(); // AWAY may have begun while the socket was away
  };
  onSocketEvents({ onFrame, onSnapshot, onConnection, onSessionEnded: () => endSession(t("sessionEnded")) });
  setLang(currentLang());
  $("lang-toggle").addEventListener("click", () => {
    setLang(currentLang() === "ru" ? "en" : "ru");
    onLanguage();
  });
  $("login-form").addEventListener("submit", onLogin);
  $("logout").addEventListener("click", onLogout);
  initStatus();
  initResultForm(finishSaved);
  initRework();
  initPresence();
  initAttention();
  initShortcuts();
  onLanguage();
  if (getToken()) enterMain(); else showLogin("");
}

init();
