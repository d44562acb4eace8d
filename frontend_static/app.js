// The operator workstation: login, rework list, the client card pushed over WebSocket, the result block
// with the server's countdown and autosaved drafts. Plain ES module, no build step, no external resources.
import { currentLang, setLang, t } from "/i18n.js";

const $ = (id) => document.getElementById(id);
const state = {
  token: sessionStorage.getItem("tm.token"),
  operatorId: null,
  lastSeq: null,
  ws: null,
  wsWanted: false,
  reconnectAttempt: 0,
  reconnectTimer: null,
  watchdog: null,
  heartbeat: 15,
  current: null, // {communicationId, phone, mode: "call"|"rework", deadline, offset, fixed}
  countdownTimer: null,
  draftTimer: null,
  draftPending: false,
};

// -- helpers ------------------------------------------------------------------------------------------------

export function maskPhone(phone) {
  if (!phone || phone.length !== 11) return phone || "";
  return `+${phone[0]} (***) ***-${phone.slice(7, 9)}-${phone.slice(9, 11)}`;
}

function money(kopecks) {
  if (kopecks === undefined || kopecks === null) return "—";
  return (kopecks / 100).toLocaleString(currentLang() === "ru" ? "ru-RU" : "en-GB",
    { minimumFractionDigits: 2, maximumFractionDigits: 2 }) + " ₽";
}

function fullName(name) {
  return name ? [name.lastName, name.name, name.middleName].filter(Boolean).join(" ") : "—";
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text ?? "—";
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function showStatus(text, kind) {
  const el = $("status-message");
  el.textContent = text;
  el.className = `message ${kind}`;
  el.hidden = !text;
}

function setConnection(up) {
  const el = $("connection");
  el.hidden = false;
  el.textContent = up ? t("connected") : t("reconnecting");
  el.classList.toggle("down", !up);
  el.dataset.state = up ? "connected" : "reconnecting";
}

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (response.status === 401 && state.token && !path.endsWith("/login")) {
    endSession(t("sessionEnded"));
    throw Object.assign(new Error("unauthorized"), { status: 401, data });
  }
  if (!response.ok) throw Object.assign(new Error("http"), { status: response.status, data, response });
  return data;
}

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
    state.token = result.data.token;
    sessionStorage.setItem("tm.token", state.token);
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
  state.wsWanted = false;
  clearTimeout(state.reconnectTimer);
  clearTimeout(state.watchdog);
  if (state.ws) { try { state.ws.close(1000); } catch { /* already closed */ } }
  state.ws = null;
  state.token = null;
  sessionStorage.removeItem("tm.token");
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
  state.operatorId = me.data.operatorId;
  const stored = sessionStorage.getItem(`tm.lastSeq.${state.operatorId}`);
  state.lastSeq = stored === null ? null : Number(stored);
  $("login-view").hidden = true;
  $("main-view").hidden = false;
  $("logout").hidden = false;
  const name = $("operator-name");
  name.textContent = `${me.data.firstName} ${me.data.lastName}`;
  name.hidden = false;
  showStatus("", "ok");
  await Promise.all([loadRework(), loadCurrentCard()]);
  state.wsWanted = true;
  connect();
}

async function loadRework() {
  let items = [];
  try { items = (await api("GET", "/api/arm/v1/listCommunications")).data.communications; } catch { return; }
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

async function loadCurrentCard() {
  try {
    const result = await api("GET", "/api/arm/v1/getClientCard");
    const card = result.data.clientCard;
    if (!state.current || state.current.communicationId !== card.currentCommunication.id) {
      showCard(card, "call");
    }
    if (result.data.resultDeadlineEpochMs && state.current && state.current.deadline === null) {
      // A page (re)loaded after the call ended: the countdown continues from the server's deadline.
      state.current.deadline = result.data.resultDeadlineEpochMs;
      state.current.offset = result.data.serverTimeEpochMs - Date.now();
      renderCountdown();
    }
  } catch { /* no call in progress */ }
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

// -- the card and the result block ----------------------------------------------------------------------------

function showCard(card, mode) {
  flushDraft();
  const info = card.clientInfo;
  const comm = card.currentCommunication;
  state.current = { communicationId: comm.id, phone: info.phone, mode, deadline: null, offset: 0, fixed: false };
  $("client-name-ru").textContent = fullName(info.fullNameRu);
  $("client-name-en").textContent = fullName(info.fullNameEn);
  $("client-phone").textContent = maskPhone(info.phone);
  $("client-citizenship").textContent = info.citizenship || "—";
  $("client-age").textContent = info.age ?? "—";
  $("client-campaign").textContent = comm.campaign?.displayName || "—";
  $("campaign-script").textContent = comm.campaign?.description || "—";

  const products = $("products").querySelector("tbody");
  products.replaceChildren();
  for (const p of card.productList || []) {
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

  const history = $("history").querySelector("tbody");
  history.replaceChildren();
  for (const h of card.history || []) {
    const row = document.createElement("tr");
    cell(row, h.time);
    cell(row, h.campaign?.displayName);
    cell(row, `${h.operator?.name ?? ""} ${h.operator?.lastName ?? ""}`.trim());
    cell(row, [h.result?.result, h.result?.reason, h.result?.comment].filter(Boolean).join(" · ") || t("notSaved"));
    history.appendChild(row);
  }
  if (!(card.history || []).length) {
    const row = document.createElement("tr");
    cell(row, t("noHistory"), "hint").colSpan = 4;
    history.appendChild(row);
  }

  const result = comm.result || {};
  $("result-input").value = result.result || "";
  $("reason-input").value = result.reason || "";
  $("comment-input").value = result.comment || "";
  $("draft-state").textContent = "";
  $("save-result").disabled = false;
  $("card").hidden = false;
  $("result-form").hidden = false;
  renderCountdown();
  $("card").focus();
}

function closeCard() {
  clearInterval(state.countdownTimer);
  flushDraft();
  state.current = null;
  $("card").hidden = true;
  $("result-form").hidden = true;
}

function renderCountdown() {
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
    finishSaved(current.mode === "rework");
  } catch (err) {
    $("save-result").disabled = false;
    if (err.status === 409) showStatus(t("alreadyFixed"), "error");
    else if (err.status !== 401) showStatus(t("serverError"), "error");
  }
}

function finishSaved(refreshList) {
  closeCard();
  showStatus(t("saved"), "ok");
  if (refreshList) loadRework();
}

// -- the push channel -------------------------------------------------------------------------------------------

function connect() {
  if (!state.wsWanted || !state.token) return;
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/api/arm/v1/ws`);
  state.ws = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: "HELLO", token: state.token, lastSeq: state.lastSeq }));
  ws.onmessage = (message) => {
    armWatchdog();
    let frame;
    try { frame = JSON.parse(message.data); } catch { return; }
    handleFrame(frame);
  };
  ws.onclose = (event) => {
    if (state.ws !== ws) return;
    clearTimeout(state.watchdog);
    state.ws = null;
    if (event.code === 4401) { endSession(t("sessionEnded")); return; }
    if (!state.wsWanted) return;
    setConnection(false);
    const delay = Math.min(5000, 500 * 2 ** state.reconnectAttempt) * (0.5 + Math.random() / 2);
    state.reconnectAttempt += 1;
    state.reconnectTimer = setTimeout(connect, delay);
  };
}

function armWatchdog() {
  // The server pings every heartbeatSeconds: silence for three of them means the connection is dead.
  clearTimeout(state.watchdog);
  state.watchdog = setTimeout(() => { if (state.ws) state.ws.close(4000); }, state.heartbeat * 3000);
}

function rememberSeq(seq) {
  state.lastSeq = seq;
  sessionStorage.setItem(`tm.lastSeq.${state.operatorId}`, String(seq));
}

function handleFrame(frame) {
  if (frame.seq !== null && frame.seq !== undefined && frame.type !== "RESYNC") {
    if (state.lastSeq !== null && frame.seq <= state.lastSeq) return; // seen already
    rememberSeq(frame.seq);
  }
  const data = frame.data || {};
  const current = state.current;
  const isCurrent = current && current.communicationId === data.communicationId;
  switch (frame.type) {
    case "HELLO_OK":
      state.reconnectAttempt = 0;
      state.heartbeat = data.heartbeatSeconds || 15;
      if (state.lastSeq === null) rememberSeq(data.lastSeq);
      setConnection(true);
      break;
    case "CLIENT_CARD_READY":
      showStatus("", "ok");
      showCard(data.clientCard, "call");
      break;
    case "CALL_ENDED":
      if (isCurrent) {
        current.deadline = data.resultDeadlineEpochMs;
        current.offset = data.serverTimeEpochMs - Date.now();
        renderCountdown();
      }
      break;
    case "RESULT_SAVED":
      if (isCurrent && !current.fixed) finishSaved(current.mode === "rework");
      break;
    case "RESULT_WINDOW_EXPIRED":
      if (isCurrent || !current) {
        closeCard();
        showStatus(t("expired"), "warn");
      }
      loadRework();
      break;
    case "REWORK_CHANGED":
      loadRework();
      break;
    case "RESYNC":
      rememberSeq(frame.seq);
      loadRework();
      loadCurrentCard();
      break;
    case "SESSION_ENDED":
      endSession(t("sessionEnded"));
      break;
    case "PING":
      if (state.ws) state.ws.send(JSON.stringify({ type: "PONG" }));
      break;
    default:
      break;
  }
}

// -- start ---------------------------------------------------------------------------------------------------

function init() {
  setLang(currentLang());
  $("lang-toggle").textContent = currentLang() === "ru" ? "EN" : "RU";
  $("lang-toggle").addEventListener("click", () => {
    setLang(currentLang() === "ru" ? "en" : "ru");
    $("lang-toggle").textContent = currentLang() === "ru" ? "EN" : "RU";
    if ($("connection").dataset.state) setConnection($("connection").dataset.state === "connected");
    renderCountdown();
    if (!$("main-view").hidden) loadRework();
  });
  $("login-form").addEventListener("submit", onLogin);
  $("logout").addEventListener("click", onLogout);
  $("result-form").addEventListener("submit", onSave);
  for (const id of ["result-input", "reason-input", "comment-input"]) {
    $(id).addEventListener("input", scheduleDraft);
    $(id).addEventListener("change", scheduleDraft);
  }
  if (state.token) enterMain(); else showLogin("");
}

init();
