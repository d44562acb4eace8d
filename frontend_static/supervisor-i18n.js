// The supervisor page's texts, added to the shared dictionary (Russian by default, English toggle).
import { TEXTS } from "/i18n.js";

Object.assign(TEXTS.ru, {
  supTitle: "Монитор супервизора", supOperators: "Операторы", supCampaigns: "Кампании", supAlerts: "Оповещения",
  supChart: "Звонки в минуту и время вывода карточки", supNoAlerts: "Всё спокойно",
  colOperator: "Оператор", colState: "Статус", colInState: "В статусе", colCampaign: "Кампания", colCall: "Звонок",
  colCalls: "Звонков", colInWindow: "В срок", colDrafts: "Доработка", colPop: "Карточка", colActions: "Действие",
  filterCampaign: "Кампания", filterState: "Статус", all: "все", sortInState: "Дольше в статусе — выше",
  supStateREADY: "Готов", supStatePAUSED: "Пауза", supStateAWAY: "Нет на месте", supStateON_CALL: "Разговор",
  supStateWRAP_UP: "Постобработка", supStateOFFLINE: "Не в сети",
  left: "ещё {t}", overdue: "просрочено {t}",
  tileWaiting: "В очереди", tileDue: "К звонку сейчас", tileDialling: "Набирается", tileDone: "Сделано сегодня",
  tileImported: "Загружено сегодня", tileRejected: "Отсеяно фильтрами", tileRecalls: "Перезвоны",
  tileAnswer: "Дозвон", tileRunDry: "Закончится через", tileRate: "Наборов/мин", tileDrafts: "Доработка",
  minutes: "{m} мин", never: "—", oldest: "старейшая {t}",
  alertLONG_CALL: "Долгий разговор", alertWRAP_UP_OVERDUE: "Постобработка дольше окна", alertLONG_PAUSE: "Долгая пауза",
  alertERRORS_RISING: "Растут ошибки телефонии и интеграций", since: "с {t}", errorsCount: "{n} за минуту",
  actPause: "Пауза: {r}", actReady: "Сделать готовым", actEnd: "Завершить сеансы", actChoose: "—",
  actDone: "Готово: {a}", actFailed: "Не выполнено: {e}", confirmEnd: "Завершить все сеансы оператора {n}?",
  notSupervisor: "Эта страница — для супервизоров", chartCalls: "звонков/мин", chartPop: "карточка, мс (ср.)",
  errorsPerMinute: "Ошибок за минуту",
});

Object.assign(TEXTS.en, {
  supTitle: "Supervisor monitor", supOperators: "Operators", supCampaigns: "Campaigns", supAlerts: "Alerts",
  supChart: "Calls per minute and screen-pop time", supNoAlerts: "All quiet",
  colOperator: "Operator", colState: "State", colInState: "In state", colCampaign: "Campaign", colCall: "Call",
  colCalls: "Calls", colInWindow: "In window", colDrafts: "Rework", colPop: "Screen-pop", colActions: "Action",
  filterCampaign: "Campaign", filterState: "State", all: "all", sortInState: "Longest in state first",
  supStateREADY: "Ready", supStatePAUSED: "Paused", supStateAWAY: "Away", supStateON_CALL: "On call",
  supStateWRAP_UP: "Wrap-up", supStateOFFLINE: "Offline",
  left: "{t} left", overdue: "{t} over",
  tileWaiting: "Waiting", tileDue: "Due now", tileDialling: "Dialling", tileDone: "Done today",
  tileImported: "Imported today", tileRejected: "Rejected by filters", tileRecalls: "Recalls",
  tileAnswer: "Answer rate", tileRunDry: "Runs dry in", tileRate: "Dials/min", tileDrafts: "Rework",
  minutes: "{m} min", never: "—", oldest: "oldest {t}",
  alertLONG_CALL: "Long call", alertWRAP_UP_OVERDUE: "Wrap-up past the window", alertLONG_PAUSE: "Long pause",
  alertERRORS_RISING: "Telephony and integration errors rising", since: "since {t}", errorsCount: "{n} in a minute",
  actPause: "Pause: {r}", actReady: "Make ready", actEnd: "End sessions", actChoose: "—",
  actDone: "Done: {a}", actFailed: "Failed: {e}", confirmEnd: "End every session of {n}?",
  notSupervisor: "This page is for supervisors", chartCalls: "calls/min", chartPop: "screen-pop, ms (avg)",
  errorsPerMinute: "Errors in the last minute",
});
