// The reports page (analysts, supervisors, admins): filters → GET /api/reports/v1/* → totals, the KPI table,
// three hand-drawn SVG charts (calls per hour of day, outcomes, the weekday × hour heatmap of contact rate) and
// the CSV download (the server streams it; the browser saves it). The login is on the main page.
import { api, clearToken, getToken, onUnauthorized } from "/api.js";
import { $, cell, showStatus } from "/dom.js";
import { errorText } from "/errors.js";
import { TEXTS, currentLang, locale, setLang, t } from "/i18n.js";

Object.assign(TEXTS.ru, {
  repTitle: "Отчёты", repFloor: "Живой зал", repFrom: "С", repTo: "По", repCampaign: "Кампания",
  repOperator: "Оператор", repTeam: "Команда", repOutcome: "Исход", repAny: "все", repGroup: "Группировка",
  repByDay: "по дням", repByOperator: "по операторам", repByCampaign: "по кампаниям", repByTeam: "по командам",
  repByHour: "по часам", repShow: "Показать", repXKpis: "KPI (таблица)", repXCalls: "все звонки",
  repXContact: "дозваниваемость", repExcel: "Excel (;)", repDownload: "Скачать CSV", repTotals: "Итого за период",
  repCallsPerHour: "Звонки по часам суток", repOutcomes: "Результаты", repHeatmap: "Лучшее время звонка",
  repAllSegments: "все сегменты", repKpis: "Показатели", repSummaries: "Утренние сводки", repNoData: "Нет данных",
  repSent: "отправлена", repNotSent: "не отправлена", repDownloaded: "Файл сохранён",
  kcalls: "Звонки", kavgTalkSeconds: "Ср. разговор, с", kavgWrapUpSeconds: "Ср. поствызов, с",
  kavgHandleSeconds: "AHT, с", kinWindowRate: "Вовремя", kexpiredRate: "На доработку", kavgReworkSeconds: "Доработка, с",
  kcontacts: "Контакты", ksuccesses: "Успех", kconversion: "Конверсия", knoAnswer: "Нет ответа", kbusy: "Занято",
  kmissed: "Сброшено", kgroup: "Группа", heatHint: "доля контактов (цвет), попытки (число)",
  days: "Пн,Вт,Ср,Чт,Пт,Сб,Вс",
});
Object.assign(TEXTS.en, {
  repTitle: "Reports", repFloor: "Live floor", repFrom: "From", repTo: "To", repCampaign: "Campaign",
  repOperator: "Operator", repTeam: "Team", repOutcome: "Outcome", repAny: "any", repGroup: "Group by",
  repByDay: "day", repByOperator: "operator", repByCampaign: "campaign", repByTeam: "team", repByHour: "hour",
  repShow: "Show", repXKpis: "KPIs (table)", repXCalls: "all calls", repXContact: "contactability",
  repExcel: "Excel (;)", repDownload: "Download CSV", repTotals: "Period totals", repCallsPerHour: "Calls by hour of day",
  repOutcomes: "Outcomes", repHeatmap: "Best time to call", repAllSegments: "all segments", repKpis: "KPIs",
  repSummaries: "Morning summaries", repNoData: "No data", repSent: "sent", repNotSent: "not sent",
  repDownloaded: "File saved",
  kcalls: "Calls", kavgTalkSeconds: "Avg talk, s", kavgWrapUpSeconds: "Avg wrap-up, s", kavgHandleSeconds: "AHT, s",
  kinWindowRate: "In window", kexpiredRate: "To rework", kavgReworkSeconds: "Rework, s", kcontacts: "Contacts",
  ksuccesses: "Success", kconversion: "Conversion", knoAnswer: "No answer", kbusy: "Busy", kmissed: "Dropped",
  kgroup: "Group", heatHint: "contact rate (colour), attempts (number)", days: "Mon,Tue,Wed,Thu,Fri,Sat,Sun",
});

const COLUMNS = ["calls", "avgTalkSeconds", "avgWrapUpSeconds", "avgHandleSeconds", "inWindowRate", "expiredRate",
  "avgReworkSeconds", "contacts", "successes", "conversion", "noAnswer", "busy", "missed"];
const RATES = new Set(["inWindowRate", "expiredRate", "conversion"]);
const SVG = "http://www.w3.org/2000/svg";
let last = null;

function fmt(key, value) {
  if (value === null || value === undefined) return "—";
  if (RATES.has(key)) return new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 1 }).format(value);
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: 1 }).format(value);
}

function params() {
  const p = new URLSearchParams();
  p.set("from", $("f-from").value);
  p.set("to", $("f-to").value);
  for (const [id, name] of [["f-campaign", "campaignId"], ["f-operator", "operatorId"], ["f-team", "teamId"],
    ["f-outcome", "outcome"]]) {
    if ($(id).value) p.set(name, $(id).value);
  }
  return p;
}

function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }

function noData(el) { el.appendChild(svg("text", { x: 240, y: 80, "text-anchor": "middle", class: "axis" }, t("repNoData"))); }

function drawHours(rows) {
  const el = $("chart-hours");
  clear(el);
  const calls = new Array(24).fill(0);
  for (const r of rows) calls[Number(r.key)] = r.calls;
  const max = Math.max(...calls);
  el.setAttribute("aria-label", t("repCallsPerHour"));
  if (!max) { noData(el); return; }
  const w = 460 / 24;
  calls.forEach((n, h) => {
    const height = (n / max) * 130;
    const bar = svg("rect", { x: 16 + h * w, y: 140 - height, width: w - 2, height, class: "bar" });
    bar.appendChild(svg("title", {}, `${String(h).padStart(2, "0")}:00 — ${n}`));
    el.appendChild(bar);
    if (h % 3 === 0) el.appendChild(svg("text", { x: 16 + h * w, y: 154, class: "axis" }, String(h)));
  });
  el.appendChild(svg("text", { x: 0, y: 10, class: "axis" }, String(max)));
}

function drawOutcomes(rows) {
  const el = $("chart-outcomes");
  clear(el);
  const byOutcome = new Map();
  for (const r of rows) byOutcome.set(r.outcome || "—", (byOutcome.get(r.outcome || "—") || 0) + r.calls);
  const items = [...byOutcome.entries()].sort((a, b) => b[1] - a[1]).slice(0, 7);
  if (!items.length) { noData(el); return; }
  const max = items[0][1];
  items.forEach(([name, n], i) => {
    const y = 4 + i * 22;
    el.appendChild(svg("text", { x: 0, y: y + 13, class: "axis" }, name));
    el.appendChild(svg("rect", { x: 90, y, width: Math.max(1, (n / max) * 330), height: 16, class: "bar" }));
    el.appendChild(svg("text", { x: 96 + (n / max) * 330, y: y + 13 }, String(n)));
  });
}

function drawHeatmap(data) {
  const el = $("heatmap");
  clear(el);
  if (!data.cells.length) { noData(el); return; }
  const days = t("days").split(",");
  const w = 440 / 24, h = 20;
  const cells = new Map(data.cells.map((c) => [`${c.weekday}-${c.hour}`, c]));
  for (let d = 1; d <= 7; d++) {
    el.appendChild(svg("text", { x: 0, y: (d - 1) * h + 14, class: "axis" }, days[d - 1]));
    for (let hour = 0; hour < 24; hour++) {
      const c = cells.get(`${d}-${hour}`);
      const rate = c ? (c.contactRate ?? 0) : null;
      const fill = rate === null ? "#eee" : `hsl(${Math.round(rate * 120)}, 65%, ${70 - rate * 25}%)`;
      const rect = svg("rect", { x: 28 + hour * w, y: (d - 1) * h, width: w - 1, height: h - 1, fill,
        "data-weekday": d, "data-hour": hour });
      if (c) rect.appendChild(svg("title", {}, `${days[d - 1]} ${hour}:00 — ${fmt("conversion", c.contactRate)} (${c.attempts})`));
      el.appendChild(rect);
    }
  }
  for (let hour = 0; hour < 24; hour += 3) el.appendChild(svg("text", { x: 28 + hour * w, y: 7 * h + 12, class: "axis" }, String(hour)));
  el.setAttribute("aria-label", `${t("repHeatmap")}: ${t("heatHint")}`);
}

function renderTable(report) {
  const head = $("kpi-table").tHead;
  clear(head);
  const hr = head.insertRow();
  for (const key of ["kgroup", ...COLUMNS.map((c) => `k${c}`)]) {
    const th = document.createElement("th");
    th.textContent = t(key);
    hr.appendChild(th);
  }
  const body = $("kpi-table").tBodies[0];
  clear(body);
  for (const r of report.rows) {
    const tr = body.insertRow();
    cell(tr, r.label || r.key || "—", "data");
    for (const c of COLUMNS) cell(tr, fmt(c, r[c]));
  }
  const dl = $("totals");
  clear(dl);
  for (const c of COLUMNS) {
    const div = document.createElement("div");
    const dt = document.createElement("dt");
    dt.textContent = t(`k${c}`);
    const dd = document.createElement("dd");
    dd.textContent = fmt(c, report.total[c]);
    dd.id = `total-${c}`;
    div.append(dt, dd);
    dl.appendChild(div);
  }
}

function renderAll() {
  if (!last) return;
  renderTable(last.kpis);
  drawHours(last.hours.rows);
  drawOutcomes(last.outcomes);
  drawHeatmap(last.heatmap);
  renderSegments(last.heatmap.segments);
}

function renderSegments(segments) {
  const select = $("h-segment");
  const chosen = select.value;
  while (select.options.length > 1) select.remove(1);
  for (const s of segments.filter(Boolean)) select.add(new Option(s, s, false, s === chosen));
}

async function load(event) {
  event?.preventDefault();
  const p = params();
  const group = new URLSearchParams(p);
  group.set("groupBy", $("f-group").value);
  const hours = new URLSearchParams(p);
  hours.set("groupBy", "hourOfDay");
  const heat = new URLSearchParams(p);
  heat.delete("outcome");
  if ($("h-segment").value) heat.set("segment", $("h-segment").value);
  try {
    const [kpis, byHour, outcomes, heatmap] = await Promise.all([
      api("GET", `/api/reports/v1/kpis?${group}`), api("GET", `/api/reports/v1/kpis?${hours}`),
      api("GET", `/api/reports/v1/outcomes?${p}`), api("GET", `/api/reports/v1/heatmap?${heat}`)]);
    last = { kpis: kpis.data, hours: byHour.data, outcomes: outcomes.data, heatmap: heatmap.data };
    showStatus("", null);
    renderAll();
  } catch (err) {
    if (err.status !== 401) showStatus(() => errorText(err), "error");
  }
}

async function download() {
  const p = params();
  p.set("kind", $("x-kind").value);
  p.set("groupBy", $("f-group").value);
  if ($("x-excel").checked) p.set("sep", ";");
  const response = await fetch(`/api/reports/v1/export.csv?${p}`, { headers: { Authorization: `Bearer ${getToken()}` } });
  if (!response.ok) {
    let data = null;
    try { data = await response.json(); } catch { data = null; }
    showStatus(() => errorText({ status: response.status, data }), "error");
    return;
  }
  const blob = await response.blob();
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `${p.get("kind")}-${p.get("from")}-${p.get("to")}.csv`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  showStatus(() => t("repDownloaded"), "ok");
}

async function loadChoices() {
  const { data } = await api("GET", "/api/reports/v1/filters");
  for (const [id, items] of [["f-campaign", data.campaigns], ["f-team", data.teams], ["f-operator", data.operators]]) {
    const select = $(id);
    for (const item of items) select.add(new Option(item.name, String(item.id)));
  }
}

async function loadSummaries() {
  const list = $("summaries");
  clear(list);
  try {
    const { data } = await api("GET", "/api/reports/v1/daily-summaries?limit=14");
    for (const s of data) {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "summary-day";
      button.textContent = s.day;
      button.addEventListener("click", async () => {
        const one = await api("GET", `/api/reports/v1/daily-summaries/${s.day}`);
        $("summary-view").textContent = JSON.stringify(one.data.payload, null, 2);
        $("summary-view").hidden = false;
      });
      li.append(button, ` — ${s.sentAt ? t("repSent") : t("repNotSent")}`);
      list.appendChild(li);
    }
  } catch { /* the list is secondary */ }
}

function today() {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

async function init() {
  onUnauthorized(() => location.replace("/"));
  setLang(currentLang());
  $("lang-toggle").textContent = currentLang() === "ru" ? "EN" : "RU";
  $("lang-toggle").addEventListener("click", () => {
    setLang(currentLang() === "ru" ? "en" : "ru");
    $("lang-toggle").textContent = currentLang() === "ru" ? "EN" : "RU";
    renderAll();
  });
  $("logout").addEventListener("click", async () => {
    try { await api("GET", "/api/arm/v1/logout"); } catch { /* already over */ }
    clearToken();
    location.replace("/");
  });
  if (!getToken()) { location.replace("/"); return; }
  let me;
  try { me = await api("GET", "/api/arm/v1/me"); } catch { location.replace("/"); return; }
  if (me.data.role === "operator") { location.replace("/"); return; }
  $("operator-name").textContent = `${me.data.firstName} ${me.data.lastName}`;
  $("operator-name").hidden = false;
  $("floor-link").hidden = me.data.role === "analyst";
  $("f-from").value = $("f-from").value || today();
  $("f-to").value = $("f-to").value || today();
  $("filters").addEventListener("submit", load);
  $("h-segment").addEventListener("change", () => load());
  $("x-download").addEventListener("click", download);
  $("reports-view").hidden = false;
  try { await loadChoices(); } catch (err) { showStatus(() => errorText(err), "error"); }
  await load();
  await loadSummaries();
}

init();
