// Interface texts, Russian by default with an English toggle; the locale for Intl formatting and plural
// forms through Intl.PluralRules (день/дня/дней). Error codes have their sentences in errors.js.
export const TEXTS = {
  ru: {
    appTitle: "ТЕЛЕМАРКЕТИНГ", logout: "Выйти", loginTitle: "Вход в систему", loginLabel: "Логин",
    passwordLabel: "Пароль", loginButton: "Войти", cardTitle: "Карточка клиента", fullNameRu: "ФИО",
    fullNameEn: "ФИО (латиница)", phone: "Телефон", citizenship: "Гражданство", age: "Возраст",
    campaign: "Кампания", script: "Сценарий разговора", products: "Заявки и займы", doId: "№ заявки",
    start: "Дата начала", status: "Статус", product: "Продукт", requested: "Запрошено", approved: "Одобрено",
    term: "Срок", grace: "Грейс", rate: "Ставка", documents: "Документы", history: "История коммуникаций",
    date: "Дата", operator: "Оператор", result: "Результат", resultTitle: "Результат разговора",
    resultLabel: "Результат", choose: "— выберите —",
    reasonLabel: "Причина",
    detailLabel: "Уточнение",
    commentLabel: "Комментарий", save: "Сохранить", rework: "Карточки на доработку", type: "Тип",
    actions: "Действия", reworkEmpty: "Нет карточек на доработку", open: "Открыть", notSaved: "Не сохранен",
    typeCall: "Звонок", connected: "Подключено", reconnecting: "Переподключение…",
    onCall: "Идёт разговор", timeLeft: "Осталось на сохранение: {t}", timeUp: "Время вышло",
    reworkMode: "Доработка карточки", draftSaved: "Черновик сохранён в {t}", draftFailed: "Черновик не сохранён, повторим",
    draftConflict: "Черновик на сервере был другим — сохранён ваш текст в {t}",
    saved: "Результат сохранен",
    expired: "Результат разговора по предыдущему клиенту не сохранен. Карточка вернется на доработку.",
    badCredentials: "Неверный логин или пароль", locked: "Учётная запись заблокирована. Обратитесь к руководителю.",
    throttled: "Слишком много неудачных попыток. Повторите через {s}.", required: "Введите логин и пароль",
    resultRequired: "Выберите результат разговора", sessionEnded: "Сеанс завершён: выход выполнен в другом окне, учётная запись заблокирована или сеанс истёк. Войдите снова.",
    serverError: "Сервер недоступен, попробуйте ещё раз", alreadyFixed: "Результат уже сохранён и не может быть изменён",
    noHistory: "Раньше с клиентом не связывались",
    presenceTitle: "Мой статус", setReady: "Готов", setPause: "Пауза", pauseReason: "Причина паузы",
    reasonBREAK: "перерыв", reasonTRAINING: "обучение", reasonTECHNICAL: "технические причины",
    stateREADY: "Готов к звонкам", statePAUSED: "Пауза: {r}", stateAWAY: "Нет на месте: звонки не поступают. Нажмите «Готов»",
    stateON_CALL: "Разговор", stateWRAP_UP: "Сохранение результата", stateOFFLINE: "Не в сети",
    pendingPause: "После звонка: пауза ({r})", pauseReasonRequired: "Выберите причину паузы",
    inState: "в статусе {d}", resynced: "Синхронизировано", lastEvent: "последнее событие {t}",
    roleTitle: "Рабочее место оператора — для операторов", roleSupervisor: "Вы вошли как руководитель.",
    roleAdmin: "Вы вошли как администратор.", roleIntro: "Звонки здесь принимают операторы. Вам доступно:",
    roleFloor: "Живой зал", roleFloorWhat: "состояния операторов, звонки и окна сохранения результата — в реальном времени.",
    roleApi: "Документация API", roleApiWhat: "кампании, загрузка лидов и их отчёты, операторы — через API.",
    roleCli: "Управление операторами (создание, блокировка, пароль) — командой tm-admin на сервере.",
    roleCliAdminOnly: "Операторов создаёт и блокирует администратор (tm-admin на сервере).",
    soundLabel: "Звук при новом звонке", notifyAllow: "Включить уведомления", notifyOn: "Уведомления включены",
    notifyBlocked: "Уведомления запрещены в браузере",
    newCallTitle: "● Новый звонок", notifyBody: "Новый звонок: карточка клиента открыта",
    reworkBlocked: "Идёт звонок: карточки на доработку откроются после него",
    reworkParked: "Карточка на доработку отложена до конца звонка, текст сохранён как черновик. Вы вернётесь к ней после звонка.",
    reworkResumed: "Вы вернулись к отложенной карточке на доработку",
    shortcuts: "Клавиши: Ctrl+Enter — сохранить; Enter — следующее поле; Alt+1…{n} — выбрать результат",
    docStatusERROR: "ошибка", docStatusOK: "принят", docStatusPENDING: "на проверке", docStatusOTHER: "статус неизвестен",
  },
  en: {
    appTitle: "TELEMARKETING", logout: "Log out", loginTitle: "Sign in", loginLabel: "Login",
    passwordLabel: "Password", loginButton: "Sign in", cardTitle: "Client card", fullNameRu: "Name",
    fullNameEn: "Name (Latin)", phone: "Phone", citizenship: "Citizenship", age: "Age",
    campaign: "Campaign", script: "Call script", products: "Applications and loans", doId: "Application",
    start: "Started", status: "Status", product: "Product", requested: "Requested", approved: "Approved",
    term: "Term", grace: "Grace", rate: "Rate", documents: "Documents", history: "Past communications",
    date: "Date", operator: "Operator", result: "Result", resultTitle: "Call result",
    resultLabel: "Result", choose: "— choose —",
    reasonLabel: "Reason",
    detailLabel: "Detail",
    commentLabel: "Comment", save: "Save", rework: "Cards to rework", type: "Type",
    actions: "Actions", reworkEmpty: "Nothing to rework", open: "Open", notSaved: "Not saved",
    typeCall: "Call", connected: "Connected", reconnecting: "Reconnecting…",
    onCall: "Call in progress", timeLeft: "Time left to save: {t}", timeUp: "Time is up",
    reworkMode: "Completing a card", draftSaved: "Draft saved at {t}", draftFailed: "Draft not saved, will retry",
    draftConflict: "The stored draft differed — your text was saved at {t}",
    saved: "Result saved",
    expired: "The result of the previous call was not saved. The card will return for rework.",
    badCredentials: "Wrong login or password", locked: "This account is locked. Contact your supervisor.",
    throttled: "Too many failed attempts. Try again in {s}.", required: "Enter your login and password",
    resultRequired: "Choose the call result", sessionEnded: "Your session has ended: logged out elsewhere, account locked or session expired. Please sign in again.",
    serverError: "The server is unavailable, please try again", alreadyFixed: "The result is already saved and cannot be changed",
    noHistory: "No earlier communications with this client",
    presenceTitle: "My status", setReady: "Ready", setPause: "Pause", pauseReason: "Pause reason",
    reasonBREAK: "break", reasonTRAINING: "training", reasonTECHNICAL: "technical reasons",
    stateREADY: "Ready for calls", statePAUSED: "Paused: {r}", stateAWAY: "Away: no calls come. Press “Ready”",
    stateON_CALL: "On a call", stateWRAP_UP: "Saving the result", stateOFFLINE: "Offline",
    pendingPause: "After this call: pause ({r})", pauseReasonRequired: "Choose a pause reason",
    inState: "for {d}", resynced: "Resynced", lastEvent: "last event {t}",
    roleTitle: "The operator workstation is for operators", roleSupervisor: "You are signed in as a supervisor.",
    roleAdmin: "You are signed in as an administrator.", roleIntro: "Operators take calls here. What you can do:",
    roleFloor: "The live floor", roleFloorWhat: "operators' states, calls and result windows, live.",
    roleApi: "API documentation", roleApiWhat: "campaigns, lead uploads and their reports, operators — through the API.",
    roleCli: "Managing operators (create, lock, password) — the tm-admin command on the server.",
    roleCliAdminOnly: "Operators are created and locked by an administrator (tm-admin on the server).",
    soundLabel: "Sound on a new call", notifyAllow: "Turn on notifications", notifyOn: "Notifications on",
    notifyBlocked: "Notifications are blocked in the browser",
    newCallTitle: "● New call", notifyBody: "New call: the client card is open",
    reworkBlocked: "A call is in progress: cards to rework open after it",
    reworkParked: "The card you were reworking stepped aside for the call; its text is kept as a draft. You will come back to it after the call.",
    reworkResumed: "You are back on the card you were reworking",
    shortcuts: "Keys: Ctrl+Enter — save; Enter — next field; Alt+1…{n} — choose the result",
    docStatusERROR: "error", docStatusOK: "accepted", docStatusPENDING: "being checked", docStatusOTHER: "status unknown",
  },
};

let lang = sessionStorage.getItem("tm.lang") || "ru";

export function currentLang() { return lang; }

export function setLang(next) {
  lang = next;
  sessionStorage.setItem("tm.lang", next);
  document.documentElement.lang = next;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
}

// Intl formatting follows the chosen language: Russian as in Russia, English with day-first dates.
export function locale() { return lang === "ru" ? "ru-RU" : "en-GB"; }

// Plural units: Intl.PluralRules picks the form (ru: one/few/many, en: one/other). Unknown units: null.
const UNITS = {
  ru: {
    day: { one: "день", few: "дня", many: "дней", other: "дня" },
    week: { one: "неделя", few: "недели", many: "недель", other: "недели" },
    month: { one: "месяц", few: "месяца", many: "месяцев", other: "месяца" },
    year: { one: "год", few: "года", many: "лет", other: "года" },
    second: { one: "секунда", few: "секунды", many: "секунд", other: "секунды" },
    minute: { one: "минута", few: "минуты", many: "минут", other: "минуты" },
  },
  en: {
    day: { one: "day", other: "days" }, week: { one: "week", other: "weeks" },
    month: { one: "month", other: "months" }, year: { one: "year", other: "years" },
    second: { one: "second", other: "seconds" }, minute: { one: "minute", other: "minutes" },
  },
};

// "21 день", "5 дней", "2 days": the number through Intl.NumberFormat, the word through Intl.PluralRules.
export function countOf(n, unit) {
  const forms = UNITS[lang]?.[String(unit).toLowerCase()];
  if (!forms || !Number.isFinite(n)) return null;
  const form = forms[new Intl.PluralRules(locale()).select(n)] ?? forms.other;
  return `${new Intl.NumberFormat(locale()).format(n)} ${form}`;
}

export function t(key, params = {}) {
  let text = (TEXTS[lang] && TEXTS[lang][key]) || TEXTS.ru[key] || key;
  for (const [name, value] of Object.entries(params)) text = text.replace(`{${name}}`, value);
  return text;
}
