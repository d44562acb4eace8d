// Interface texts, Russian by default with an English toggle.
export const TEXTS = {
  ru: {
    appTitle: "ТЕЛЕМАРКЕТИНГ", logout: "Выйти", loginTitle: "Вход в систему", loginLabel: "Логин",
    passwordLabel: "Пароль", loginButton: "Войти", cardTitle: "Карточка клиента", fullNameRu: "ФИО",
    fullNameEn: "ФИО (латиница)", phone: "Телефон", citizenship: "Гражданство", age: "Возраст",
    campaign: "Кампания", script: "Сценарий разговора", products: "Заявки и займы", doId: "№ заявки",
    start: "Дата начала", status: "Статус", product: "Продукт", requested: "Запрошено", approved: "Одобрено",
    term: "Срок", grace: "Грейс", rate: "Ставка", documents: "Документы", history: "История коммуникаций",
    date: "Дата", operator: "Оператор", result: "Результат", resultTitle: "Результат разговора",
    resultLabel: "Результат", choose: "— выберите —", optAgreed: "Согласен", optLater: "Заполнит позже",
    optCallBack: "Перезвонить", optRefused: "Отказ", optNoAnswer: "Не дозвонились", reasonLabel: "Причина", detailLabel: "Уточнение",
    notInTaxonomy: "Выберите вариант из списка кампании",
    commentLabel: "Комментарий", save: "Сохранить", rework: "Карточки на доработку", type: "Тип",
    actions: "Действия", reworkEmpty: "Нет карточек на доработку", open: "Открыть", notSaved: "Не сохранен",
    typeCall: "Звонок", connected: "Подключено", reconnecting: "Переподключение…",
    onCall: "Идёт разговор", timeLeft: "Осталось на сохранение: {t}", timeUp: "Время вышло",
    reworkMode: "Доработка карточки", draftSaved: "Черновик сохранён {t}", draftFailed: "Черновик не сохранён, повторим",
    draftConflict: "Черновик на сервере был другим — сохранён ваш текст {t}",
    saved: "Результат сохранен",
    expired: "Результат разговора по предыдущему клиенту не сохранен. Карточка вернется на доработку.",
    badCredentials: "Неверный логин или пароль", locked: "Учётная запись заблокирована. Обратитесь к руководителю.",
    throttled: "Слишком много неудачных попыток. Повторите через {s} с.", required: "Введите логин и пароль",
    resultRequired: "Выберите результат разговора", sessionEnded: "Сеанс завершён: выход выполнен в другом окне, учётная запись заблокирована или сеанс истёк. Войдите снова.",
    serverError: "Сервер недоступен, попробуйте ещё раз", alreadyFixed: "Результат уже сохранён и не может быть изменён",
    noHistory: "Раньше с клиентом не связывались",
    presenceTitle: "Мой статус", setReady: "Готов", setPause: "Пауза", pauseReason: "Причина паузы",
    reasonBREAK: "перерыв", reasonTRAINING: "обучение", reasonTECHNICAL: "технические причины",
    stateREADY: "Готов к звонкам", statePAUSED: "Пауза: {r}", stateAWAY: "Нет на месте: звонки не поступают. Нажмите «Готов»",
    stateON_CALL: "Разговор", stateWRAP_UP: "Сохранение результата", stateOFFLINE: "Не в сети",
    pendingPause: "После звонка: пауза ({r})", pauseReasonRequired: "Выберите причину паузы",
  },
  en: {
    appTitle: "TELEMARKETING", logout: "Log out", loginTitle: "Sign in", loginLabel: "Login",
    passwordLabel: "Password", loginButton: "Sign in", cardTitle: "Client card", fullNameRu: "Name",
    fullNameEn: "Name (Latin)", phone: "Phone", citizenship: "Citizenship", age: "Age",
    campaign: "Campaign", script: "Call script", products: "Applications and loans", doId: "Application",
    start: "Started", status: "Status", product: "Product", requested: "Requested", approved: "Approved",
    term: "Term", grace: "Grace", rate: "Rate", documents: "Documents", history: "Past communications",
    date: "Date", operator: "Operator", result: "Result", resultTitle: "Call result",
    resultLabel: "Result", choose: "— choose —", optAgreed: "Agreed", optLater: "Will finish later",
    optCallBack: "Call back", optRefused: "Refused", optNoAnswer: "No answer", reasonLabel: "Reason", detailLabel: "Detail",
    notInTaxonomy: "Choose one of the campaign's options",
    commentLabel: "Comment", save: "Save", rework: "Cards to rework", type: "Type",
    actions: "Actions", reworkEmpty: "Nothing to rework", open: "Open", notSaved: "Not saved",
    typeCall: "Call", connected: "Connected", reconnecting: "Reconnecting…",
    onCall: "Call in progress", timeLeft: "Time left to save: {t}", timeUp: "Time is up",
    reworkMode: "Completing a card", draftSaved: "Draft saved {t}", draftFailed: "Draft not saved, will retry",
    draftConflict: "The stored draft differed — your text was saved {t}",
    saved: "Result saved",
    expired: "The result of the previous call was not saved. The card will return for rework.",
    badCredentials: "Wrong login or password", locked: "This account is locked. Contact your supervisor.",
    throttled: "Too many failed attempts. Try again in {s} s.", required: "Enter your login and password",
    resultRequired: "Choose the call result", sessionEnded: "Your session has ended: logged out elsewhere, account locked or session expired. Please sign in again.",
    serverError: "The server is unavailable, please try again", alreadyFixed: "The result is already saved and cannot be changed",
    noHistory: "No earlier communications with this client",
    presenceTitle: "My status", setReady: "Ready", setPause: "Pause", pauseReason: "Pause reason",
    reasonBREAK: "break", reasonTRAINING: "training", reasonTECHNICAL: "technical reasons",
    stateREADY: "Ready for calls", statePAUSED: "Paused: {r}", stateAWAY: "Away: no calls come. Press “Ready”",
    stateON_CALL: "On a call", stateWRAP_UP: "Saving the result", stateOFFLINE: "Offline",
    pendingPause: "After this call: pause ({r})", pauseReasonRequired: "Choose a pause reason",
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

export function t(key, params = {}) {
  let text = (TEXTS[lang] && TEXTS[lang][key]) || TEXTS.ru[key] || key;
  for (const [name, value] of Object.entries(params)) text = text.replace(`{${name}}`, value);
  return text;
}
