// The operator workstation's entry point: login and logout, the main screen, what each pushed frame does to
// the page, and the wiring of the other modules. Plain ES modules, no build step, no external resources.
import { api, clearToken, getToken, onUnauthorized, setToken } from "/api.js";
import { closeCard, loadCurrentCard, showCard, showCurrentCard } from "/card.js";
import { $, setConnection, showStatus } from "/dom.js";
import { currentLang, setLang, t } from "/i18n.js";
import { initPresence, loadPresence, renderPresence } from "/presence.js";
import { currentCommunication, initResultForm, renderCountdown, startCountdown } from "/result.js";
import { loadRework } from "/rework.js";
import { closeSocket, onSocketEvents, openSocket } from "/socket.js";

// -- login / logout -----------------------------------------------------------------------------------------

function showLogin(message) {
  $("main-view").hidden = true;
  $("logout").hidden = true;
  $("operator-name").hidden = true;
  $("connection").hidden = true;
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
    const code = err.data?.error?.code;
    if (code === "INVALID_CREDENTIALS") msg.textContent = t("badCredentials");
    else if (code === "ACCOUNT_LOCKED") msg.textContent = t("locked");
    else if (code === "LOGIN_THROTTLED") msg.textContent = t("throttled", { s: err.data.error.data?.retryAfter ?? "" });
    else msg.textContent = t("serverError");
    msg.hidden = false;
    $("password-input").focus();
  } finally {
    $("login-submit").disabled = false;
  }
}

function endSession(message) {
  closeSocket();
  clearToken();
  closeCard();
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
    if (err.status !== 401) showLogin(t("serverError"));
    return;
  }
  if (me.data.role === "supervisor" || me.data.role === "admin") {
    location.replace("/supervisor.html"); // their page is the floor, not the operator's workstation
    return;
  }
  $("login-view").hidden = true;
  $("main-view").hidden = false;
  $("logout").hidden = false;
  const name = $("operator-name");
  name.textContent = `${me.data.firstName} ${me.data.lastName}`;
  name.hidden = false;
  showStatus("", "ok");
  loadRework();
  loadPresence();
  openSocket(); // the current call comes with HELLO_OK (onSnapshot), read in one step with its seq
}

// HELLO_OK of a page without state: the call in progress and the lastSeq it was read at, in one snapshot, so
// every event after it comes as a frame and none before it twice. The rework list is read after it too.
function onSnapshot(data) {
  if (data.current) showCurrentCard(data.current);
  loadRework();
}

function finishSaved(refreshList) {
  closeCard();
  showStatus(t("saved"), "ok");
  if (refreshList) loadRework();
}

// -- pushed frames (socket.js has already dropped repeats and handled HELLO_OK and PING) ------------------------

function onFrame(frame) {
  const data = frame.data || {};
  const current = currentCommunication();
  const isCurrent = current && current.communicationId === data.communicationId;
  switch (frame.type) {
    case "CLIENT_CARD_READY":
      showStatus("", "ok");
      // Shown already (after a RESYNC's reload): showing it again would clear the words being typed.
      if (!(isCurrent && current.mode === "call")) showCard(data.clientCard, "call");
      loadPresence();
      break;
    case "CALL_ENDED":
      if (isCurrent) startCountdown(data.resultDeadlineEpochMs, data.serverTimeEpochMs);
      loadPresence();
      break;
    case "RESULT_SAVED":
      if (isCurrent && !current.fixed) finishSaved(current.mode === "rework");
      loadPresence();
      break;
    case "RESULT_WINDOW_EXPIRED":
      if (isCurrent || !current) {
        closeCard();
        showStatus(t("expired"), "warn");
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

function init() {
  onUnauthorized(() => endSession(t("sessionEnded")));
  const onConnection = (up) => {
    setConnection(up);
    if (up) loadPresence(); // AWAY may have begun while the socket was away
  };
  onSocketEvents({ onFrame, onSnapshot, onConnection, onSessionEnded: () => endSession(t("sessionEnded")) });
  setLang(currentLang());
  $("lang-toggle").textContent = currentLang() === "ru" ? "EN" : "RU";
  $("lang-toggle").addEventListener("click", () => {
    setLang(currentLang() === "ru" ? "en" : "ru");
    $("lang-toggle").textContent = currentLang() === "ru" ? "EN" : "RU";
    if ($("connection").dataset.state) setConnection($("connection").dataset.state === "connected");
    renderCountdown();
    renderPresence();
    if (!$("main-view").hidden) loadRework();
  });
  $("login-form").addEventListener("submit", onLogin);
  $("logout").addEventListener("click", onLogout);
  initResultForm(finishSaved);
  initPresence();
  if (getToken()) enterMain(); else showLogin("");
}

init();
