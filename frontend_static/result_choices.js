// The results the form offers, as data rather than markup: each has the value stored (as seed clients send
// it) and a label per language. When the server sends a campaign's result dictionaries, result.js's
// setResultChoices takes those instead (labels may then be one string: the dictionary's own word).
export const DEFAULT_CHOICES = [
  { value: "Согласен", label: { ru: "Согласен", en: "Agreed" } },
  { value: "Заполнит позже", label: { ru: "Заполнит позже", en: "Will finish later" } },
  { value: "Перезвонить", label: { ru: "Перезвонить", en: "Call back" } },
  { value: "Отказ", label: { ru: "Отказ", en: "Refused" } },
  { value: "Не дозвонились", label: { ru: "Не дозвонились", en: "No answer" } },
];
