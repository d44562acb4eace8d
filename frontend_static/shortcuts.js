// Keyboard shortcuts of the result form, so a result can be recorded without the mouse (shown under the form
// and listed in README): Ctrl+Enter saves; Enter in the result list or the reason moves to the next field;
// Alt+1…9 chooses the n-th result. Tab and Shift+Tab move between fields as everywhere.
import { $ } from "/dom.js";

const NEXT = { "result-input": "reason-input", "reason-input": "comment-input" };

function choose(n) {
  const select = $("result-input");
  if (n >= select.options.length) return;
  select.selectedIndex = n; // option 0 is "choose"
  select.focus();
  select.dispatchEvent(new Event("change", { bubbles: true }));
}

export function initShortcuts() {
  document.addEventListener("keydown", (event) => {
    if ($("result-form").hidden) return;
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      event.preventDefault();
      $("result-form").requestSubmit();
      return;
    }
    const digit = /^Digit([1-9])$/.exec(event.code);
    if (event.altKey && !event.ctrlKey && digit) {
      event.preventDefault();
      choose(Number(digit[1]));
      return;
    }
    const next = NEXT[event.target?.id];
    if (event.key === "Enter" && next && !event.ctrlKey && !event.altKey && !event.shiftKey) {
      event.preventDefault();
      $(next).focus();
    }
  });
}
