// How values are shown to the operator: masked phone numbers, money in roubles, full names.
import { currentLang } from "/i18n.js";

export function maskPhone(phone) {
  if (!phone || phone.length !== 11) return phone || "";
  return `+${phone[0]} (***) ***-${phone.slice(7, 9)}-${phone.slice(9, 11)}`;
}

export function money(kopecks) {
  if (kopecks === undefined || kopecks === null) return "—";
  return (kopecks / 100).toLocaleString(currentLang() === "ru" ? "ru-RU" : "en-GB",
    { minimumFractionDigits: 2, maximumFractionDigits: 2 }) + " ₽";
}

export function fullName(name) {
  return name ? [name.lastName, name.name, name.middleName].filter(Boolean).join(" ") : "—";
}
