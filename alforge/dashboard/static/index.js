// The campaign list: re-rendered from GET /api/campaigns every few seconds.
import { cell, el, fmtStated, replaceRows, showError, stateBadge, getJSON } from "./common.js";

const POLL_MS = 5000;
const tbody = document.querySelector("#campaigns tbody");
const refreshed = document.getElementById("refreshed");

function row(c) {
  const progress = el("progress");
  progress.max = 1;
  progress.value = c.progress;
  const setup = [c.setup.system, c.setup.oracle, c.setup.model].filter(Boolean).join(" · ");
  return el("tr", {}, [
    el("td", {}, [el("a", { text: c.name, href: c.url })]),
    el("td", {}, [stateBadge(c.state)]),
    el("td", { cls: "progress" }, [progress, " ", el("span", { text: `${Math.round(100 * c.progress)}%`, cls: "pct" })]),
    cell(`${c.complete_generations} / ${c.max_generations}`, "num"),
    cell(`${c.labels} / ${c.max_labels}`, "num"),
    cell(c.quarantined, "num"),
    cell(fmtStated(c.stated_force_mae_eV_per_A, c.stated_interval_eV_per_A), "num"),
    cell(setup, "muted"),
    cell(c.message ?? "", "message"),
  ]);
}

async function refresh() {
  try {
    if (!document.hidden) {
      const data = await getJSON("/api/campaigns");
      replaceRows(tbody, data.campaigns.map(row), "No campaigns in this database yet: start one with alforge run SPEC.toml.", 9);
      refreshed.textContent = `Updated ${new Date().toLocaleTimeString()} · refreshes every ${POLL_MS / 1000} s.`;
      showError(null);
    }
  } catch (error) {
    showError(`Cannot refresh the campaign list (${error.message}); retrying.`);
  } finally {
    setTimeout(refresh, POLL_MS);
  }
}

refresh();
