// How values are shown to the operator: masked phone numbers, money (kopecks → roubles), percentages,
// counts with their plural unit, and the server's dd.MM.yyyy HH:mm times, all through Intl for the chosen
// language (no mixed decimal separators).
import { countOf, currentLang, locale, t } from "/i18n.js";

export function maskPhone(phone) {
  if (!phone || phone.length !== 11) return phone || "";
  return `+${phone[0]} (***) ***-${phone.slice(7, 9)}-${phone.slice(9, 11)}`;
}

export function money(kopecks) {
  if (kopecks === undefined || kopecks === null) return "—";
  return new Intl.NumberFormat(locale(), {
    style: "currency", currency: "RUB", currencyDisplay: currentLang() === "ru" ? "symbol" : "narrowSymbol",
  }).format(kopecks / 100);
}

// interestRate comes in hundredths of a percent (80 = 0.80 %).
export function percent(hundredths) {
  if (hundredths === undefined || hundredths === null) return "—";
  return new Intl.NumberFormat(locale(), { style: "percent", minimumFractionDigits: 2, maximumFractionDigits: 2 })
    .format(hundredths / 10000);
}

// A number with its unit: the unit's dictionary key (day, month, ...) picks the plural form; a unit this page
// does not know keeps the dictionary's own word.
export function amountOf(n, unitDict) {
  if (n === undefined || n === null) return "—";
  return countOf(n, unitDict?.dictionaryKey) ?? `${new Intl.NumberFormat(locale()).format(n)} ${unitDict?.dictionaryValue ?? ""}`.trim();
}

export function years(n) {
  return n === undefined || n === null ? "—" : countOf(n, "year");
}

// The server sends times as dd.MM.yyyy HH:mm already in the operators' zone: shown in the chosen language's
// date format without moving them to another zone.
export function wallTime(text) {
  const m = /^(\d{2})\.(\d{2})\.(\d{4}) (\d{2}):(\d{2})$/.exec(text || "");
  if (!m) return text || "—";
  const at = Date.UTC(Number(m[3]), Number(m[2]) - 1, Number(m[1]), Number(m[4]), Number(m[5]));
  return new Intl.DateTimeFormat(locale(), {
    day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    timeZone: "UTC",
  }).format(at);
}

// Document statuses are codes (ERROR, ...): a word for each, never the code itself.
export function documentStatus(code) {
  const known = { ERROR: "ERROR", OK: "OK", ACCEPTED: "OK", SUCCESS: "OK", PENDING: "PENDING", IN_PROGRESS: "PENDING",
    CHECKING: "PENDING" };
  return t(`docStatus${known[String(code).toUpperCase()] ?? "OTHER"}`);
}

export function fullName(name) {
  return name ? [name.lastName, name.name, name.middleName].filter(Boolean).join(" ") : "—";
}
