// Campaign tiles: queue, dialling, done today, answer rate, run-dry estimate, rework backlog, and the lead
// figures of the campaign rules (cascade today, rejected per filter, recalls). Updated field by field.
import { $ } from "/dom.js";
import { t } from "/i18n.js";
import { duration, now } from "/floor-clock.js";

const tiles = new Map();
const FIELDS = [["waiting", "tileWaiting"], ["due", "tileDue"], ["dialling", "tileDialling"], ["doneToday", "tileDone"],
  ["dialsPerMinute", "tileRate"], ["answerRatePct", "tileAnswer"], ["runDryMinutes", "tileRunDry"],
  ["drafts", "tileDrafts"], ["importedToday", "tileImported"], ["rejectedByFilter", "tileRejected"],
  ["recalls", "tileRecalls"]];

function show(field, tile) {
  const value = tile[field];
  if (value === null || value === undefined) return "—";
  if (field === "answerRatePct") return `${value}%`;
  if (field === "runDryMinutes") return t("minutes", { m: value });
  if (field === "drafts") return value ? `${value} (${duration(now() - tile.oldestDraftAt)})` : "0";
  if (field === "rejectedByFilter") return Object.entries(value).map(([k, v]) => `${k}: ${v}`).join(", ") || "0";
  return String(value);
}

function create(tile) {
  const el = document.createElement("article");
  el.className = "tile";
  el.dataset.campaignId = tile.id;
  const title = document.createElement("h3");
  el.appendChild(title);
  const dl = document.createElement("dl");
  const values = {};
  const labels = {};
  for (const [field, label] of FIELDS) {
    const dt = document.createElement("dt");
    dt.textContent = t(label);
    const dd = document.createElement("dd");
    dd.dataset.field = field;
    dl.append(dt, dd);
    values[field] = dd;
    labels[field] = dt;
  }
  el.appendChild(dl);
  $("campaign-tiles").appendChild(el);
  const entry = { el, title, values, labels, data: tile };
  tiles.set(String(tile.id), entry);
  return entry;
}

export function upsertCampaign(tile) {
  const entry = tiles.get(String(tile.id)) || create(tile);
  entry.data = tile;
  if (entry.title.textContent !== tile.name) entry.title.textContent = tile.name;
  for (const [field] of FIELDS) {
    const text = show(field, tile);
    if (entry.values[field].textContent !== text) entry.values[field].textContent = text;
  }
  entry.el.classList.toggle("dry", tile.runDryMinutes !== null && tile.runDryMinutes < 15);
  syncFilter();
}

export function removeCampaign(id) {
  const entry = tiles.get(String(id));
  if (entry) { entry.el.remove(); tiles.delete(String(id)); syncFilter(); }
}

export function resetCampaigns(campaigns) {
  for (const id of [...tiles.keys()]) if (!campaigns[id]) removeCampaign(id);
  for (const tile of Object.values(campaigns)) upsertCampaign(tile);
}

export function relabelCampaigns() {
  for (const entry of tiles.values()) {
    for (const [field, label] of FIELDS) entry.labels[field].textContent = t(label);
    upsertCampaign(entry.data);
  }
}

function syncFilter() {
  const select = $("filter-campaign");
  const have = new Set([...select.options].map((o) => o.value));
  for (const entry of tiles.values()) {
    const id = String(entry.data.id);
    if (!have.has(id)) {
      const option = document.createElement("option");
      option.value = id;
      option.textContent = entry.data.name;
      select.appendChild(option);
    }
  }
}
