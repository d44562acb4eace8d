// The operator's own statistics (GET /api/arm/v1/myStats): today's and this week's calls, average talk time,
// results saved inside the window, rework pending. Only the caller's own: the server takes the operator from
// the token. Refreshed after each saved result and once a minute; texts merged into i18n's table here.
import { api } from "/api.js";
import { $ } from "/dom.js";
import { TEXTS, locale, t } from "/i18n.js";

Object.assign(TEXTS.ru, {
  myStatsTitle: "Моя статистика", myToday: "Сегодня", myWeek: "Неделя", myCalls: "Звонков",
  myAvgTalk: "Средний разговор", myInWindow: "Сохранено вовремя", myRework: "На доработке: {n}",
  roleReports: "Отчёты",
});
Object.assign(TEXTS.en, {
  myStatsTitle: "My statistics", myToday: "Today", myWeek: "This week", myCalls: "Calls",
  myAvgTalk: "Average talk", myInWindow: "Saved in time", myRework: "Rework pending: {n}",
  roleReports: "Reports",
});

const REFRESH_MS = 60_000;
let timer = null;
let last = null;

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function percent(rate) {
  if (rate === null || rate === undefined) return "—";
  return new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 0 }).format(rate);
}

export function renderMyStats() {
  if (!last) return;
  const cells = {
    "my-calls-today": String(last.today.calls), "my-calls-week": String(last.week.calls),
    "my-talk-today": duration(last.today.avgTalkSeconds), "my-talk-week": duration(last.week.avgTalkSeconds),
    "my-window-today": percent(last.today.inWindowRate), "my-window-week": percent(last.week.inWindowRate),
  };
  for (const [id, text] of Object.entries(cells)) $(id).textContent = text;
  $("my-rework").textContent = t("myRework", { n: String(last.reworkPending) });
}

export async function loadMyStats() {
  try {
    last = (await api("GET", "/api/arm/v1/myStats")).data;
    $("my-stats").hidden = false;
    renderMyStats();
  } catch { /* statistics are a convenience: the workstation works without them */ }
}

export function startMyStats() {
  stopMyStats();
  loadMyStats();
  timer = setInterval(loadMyStats, REFRESH_MS);
}

export function stopMyStats() {
  if (timer !== null) clearInterval(timer);
  timer = null;
}
