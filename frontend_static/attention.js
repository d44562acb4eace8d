// Getting the operator's attention when a call's card pops while the tab is in the background: the title
// flashes until the tab is seen again, and a desktop notification says so if the browser permits it. A soft
// sound is optional (a setting kept in this browser, off by default).
import { $ } from "/dom.js";
import { t } from "/i18n.js";

const SOUND_KEY = "tm.sound";
let baseTitle = document.title;
let flashTimer = null;

function stopFlash() {
  clearInterval(flashTimer);
  flashTimer = null;
  document.title = baseTitle;
}

function flashTitle() {
  stopFlash();
  baseTitle = document.title;
  let on = false;
  const flip = () => {
    on = !on;
    document.title = on ? `${t("newCallTitle")} — ${baseTitle}` : baseTitle;
  };
  flip();
  flashTimer = setInterval(flip, 1000);
}

function softSound() {
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    const ctx = new Ctx();
    const tone = ctx.createOscillator();
    const gain = ctx.createGain();
    tone.type = "sine";
    tone.frequency.value = 660;
    gain.gain.setValueAtTime(0.0001, ctx.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.08, ctx.currentTime + 0.05);
    gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + 0.6);
    tone.connect(gain).connect(ctx.destination);
    tone.start();
    tone.stop(ctx.currentTime + 0.65);
    tone.onended = () => ctx.close();
  } catch { /* no audio here: the title and the notification remain */ }
}

export function soundOn() { return localStorage.getItem(SOUND_KEY) === "on"; }

// A call's card has just popped.
export function announceCall() {
  if (soundOn()) softSound();
  if (document.visibilityState === "visible") return;
  flashTitle();
  if ("Notification" in window && Notification.permission === "granted") {
    try {
      const note = new Notification(t("newCallTitle"), { body: t("notifyBody"), tag: "tm-call" });
      note.onclick = () => { window.focus(); note.close(); };
    } catch { /* some platforms allow notifications only from a service worker: the title still flashes */ }
  }
}

function renderNotify() {
  const button = $("notify-allow");
  const note = $("notify-state");
  const permission = "Notification" in window ? Notification.permission : "denied";
  button.hidden = permission !== "default";
  note.hidden = permission === "default";
  note.textContent = permission === "granted" ? t("notifyOn") : t("notifyBlocked");
}

export function renderAttention() {
  renderNotify();
}

export function initAttention() {
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") stopFlash(); });
  window.addEventListener("focus", stopFlash);
  const sound = $("sound-toggle");
  sound.checked = soundOn();
  sound.addEventListener("change", () => {
    localStorage.setItem(SOUND_KEY, sound.checked ? "on" : "off");
    if (sound.checked) softSound(); // the operator hears what they chose
  });
  $("notify-allow").addEventListener("click", async () => {
    try { await Notification.requestPermission(); } catch { /* unsupported */ }
    renderNotify();
  });
  renderNotify();
}
