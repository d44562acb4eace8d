// A hand-drawn SVG chart of the last 60 minutes: calls per minute (bars, left scale) and the average screen-pop
// time per minute (line, right scale). Redrawn only when a minute's figures change; no library, no network.
import { $ } from "/dom.js";
import { t } from "/i18n.js";

const W = 600;
const H = 150;
const PAD = { l: 34, r: 44, t: 10, b: 18 };
const NS = "http://www.w3.org/2000/svg";
const minutes = new Map();

function el(name, attrs, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

export function setMinute(key, bucket) {
  if (bucket) minutes.set(Number(key), bucket); else minutes.delete(Number(key));
}

export function resetChart(chart) {
  minutes.clear();
  for (const [key, bucket] of Object.entries(chart)) setMinute(key, bucket);
  drawChart();
}

export function drawChart() {
  const svg = $("chart");
  const end = Math.floor(Date.now() / 60000) * 60000;
  const start = end - 59 * 60000;
  const data = [];
  for (let m = start; m <= end; m += 60000) data.push(minutes.get(m) || { minute: m, calls: 0, popAvgMs: null });
  const maxCalls = Math.max(1, ...data.map((d) => d.calls));
  const maxPop = Math.max(1, ...data.map((d) => d.popAvgMs || 0));
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const bw = iw / data.length;
  const nodes = [el("line", { x1: PAD.l, y1: PAD.t + ih, x2: PAD.l + iw, y2: PAD.t + ih, class: "axis" })];
  let path = "";
  data.forEach((d, i) => {
    const x = PAD.l + i * bw;
    const h = (d.calls / maxCalls) * ih;
    if (d.calls) nodes.push(el("rect", { x: x + 1, y: PAD.t + ih - h, width: Math.max(1, bw - 2), height: h, class: "bar" }));
    if (d.popAvgMs !== null && d.popAvgMs !== undefined) {
      const y = PAD.t + ih - (d.popAvgMs / maxPop) * ih;
      path += `${path ? "L" : "M"}${(x + bw / 2).toFixed(1)},${y.toFixed(1)}`;
    }
  });
  if (path) nodes.push(el("path", { d: path, class: "pop-line" }));
  nodes.push(el("text", { x: PAD.l - 4, y: PAD.t + 8, class: "scale", "text-anchor": "end" }, String(maxCalls)));
  nodes.push(el("text", { x: PAD.l + iw + 4, y: PAD.t + 8, class: "scale pop" }, `${Math.round(maxPop)} ms`));
  nodes.push(el("text", { x: PAD.l, y: H - 4, class: "legend" }, t("chartCalls")));
  nodes.push(el("text", { x: PAD.l + iw, y: H - 4, class: "legend pop", "text-anchor": "end" }, t("chartPop")));
  svg.replaceChildren(...nodes);
  const last = data[data.length - 1];
  svg.dataset.callsThisMinute = String(last.calls);
}
