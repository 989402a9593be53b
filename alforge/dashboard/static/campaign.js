// One campaign's page: header, plots (plotly.js) and tables, all from the JSON API.
// While the campaign runs the page polls every few seconds; otherwise it polls slowly and
// redraws only when the campaign's counts change.
import {
  cell, el, fmt, fmtDuration, fmtPercent, fmtStated, fmtTime, getJSON, replaceRows, showError, stateBadge,
} from "./common.js";

const POLL_RUNNING_MS = 3000;
const POLL_IDLE_MS = 15000;
const LIVE_STATES = new Set(["created", "running"]);
const root = document.getElementById("campaign");
const api = root.dataset.api;

const COLORS = {
  force: "#1f77b4", energy: "#ff7f0e", target: "#2e7d32", threshold: "#c62828",
  train: "#1f4e79", validation: "#4fa3d1", quarantined: "#ef6c00", failed: "#c62828", pending: "#b0bec5",
  oracle_s: "#1f4e79", training_s: "#8e44ad", md_s: "#16a085", orchestration_s: "#b0bec5",
  uncertain: "#ef6c00", budget: "#2e7d32", box: "#1f4e79",
};
const PALETTE = ["#6d4c41", "#5c6bc0", "#00897b", "#c0ca33", "#d81b60", "#546e7a"];
const PLOT_CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"] };

function layout(extra) {
  return {
    margin: { l: 64, r: 24, t: 28, b: 48 },
    font: { family: "system-ui, sans-serif", size: 12, color: "#1c2733" },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "#ffffff",
    showlegend: true,
    legend: { orientation: "h", x: 0, y: 1.12 },
    uirevision: "keep",
    ...extra,
  };
}

function noData(message) {
  return [{ text: message, xref: "paper", yref: "paper", x: 0.5, y: 0.5, showarrow: false, font: { size: 14, color: "#667585" } }];
}

function generationAxis() {
  return { title: { text: "generation" }, dtick: 1, tickformat: "d", gridcolor: "#eef1f5" };
}

function logAxis(title, extra = {}) {
  return { title: { text: title }, type: "log", dtick: "D2", tickformat: "~g", gridcolor: "#eef1f5", ...extra };
}

function countAxis(title, series) {
  const max = Math.max(0, ...series.flat().filter((v) => v !== null));
  return { title: { text: title }, gridcolor: "#eef1f5", rangemode: "tozero", ...(max <= 8 ? { dtick: 1 } : {}) };
}

function stackedTotals(traces) {
  return traces.length ? traces[0].y.map((_, i) => traces.reduce((sum, t) => sum + (t.y[i] ?? 0), 0)) : [];
}

function draw(id, traces, plotLayout) {
  return Plotly.react(id, traces, plotLayout, PLOT_CONFIG);
}

function drawLearningCurve(d) {
  const text = d.generation.map((g) => `generation ${g}`);
  const traces = [
    {
      // the number the verdict holds against the target, with its 90 % interval as error bars
      name: "stated force MAE (eV/Å)", type: "scatter", mode: "lines+markers", x: d.labels, y: d.stated_force_mae_eV_per_A,
      text, marker: { color: COLORS.force, size: 8 }, line: { color: COLORS.force },
      error_y: {
        type: "data", symmetric: false, color: COLORS.force, thickness: 1.2,
        array: d.stated_force_mae_eV_per_A.map((y, i) => (d.stated_high_eV_per_A[i] === null ? 0 : d.stated_high_eV_per_A[i] - y)),
        arrayminus: d.stated_force_mae_eV_per_A.map((y, i) => (d.stated_low_eV_per_A[i] === null ? 0 : y - d.stated_low_eV_per_A[i])),
      },
      customdata: d.stated_low_eV_per_A.map((low, i) => (low === null ? "none" : `${fmt(low)}–${fmt(d.stated_high_eV_per_A[i])}`)),
      hovertemplate: "%{text}<br>%{x} labels<br>stated force MAE %{y:.3g} eV/Å<br>90 % interval %{customdata}<extra></extra>",
    },
    {
      // drawn towards uncertain frames, so it overstates the MD's error; shown, not judged
      name: "held-out force MAE (eV/Å)", type: "scatter", mode: "lines+markers", x: d.labels, y: d.force_mae_eV_per_A, text,
      marker: { color: COLORS.force, size: 6, symbol: "circle-open" }, line: { color: COLORS.force, dash: "dot", width: 1 },
      hovertemplate: "%{text}<br>%{x} labels<br>held-out force MAE %{y:.3g} eV/Å<extra></extra>",
    },
    {
      name: "energy MAE (eV)", type: "scatter", mode: "lines+markers", x: d.labels, y: d.energy_mae_eV, text, yaxis: "y2",
      marker: { color: COLORS.energy, size: 8, symbol: "diamond" }, line: { color: COLORS.energy, dash: "dot" },
      hovertemplate: "%{text}<br>%{x} labels<br>energy MAE %{y:.3g} eV<extra></extra>",
    },
  ];
  const shapes = [];
  const annotations = d.generation.length ? [] : noData("no evaluated generation yet");
  if (d.target_force_mae_eV_per_A !== null && d.generation.length) {
    shapes.push({
      type: "line", xref: "paper", x0: 0, x1: 1, yref: "y", y0: d.target_force_mae_eV_per_A, y1: d.target_force_mae_eV_per_A,
      line: { color: COLORS.target, dash: "dash", width: 1.5 },
    });
    annotations.push({
      text: "target force MAE", xref: "paper", x: 1, xanchor: "right", yref: "y", y: Math.log10(d.target_force_mae_eV_per_A),
      yanchor: "bottom", showarrow: false, font: { color: COLORS.target, size: 11 },
    });
  }
  if (!d.generation.length) {
    const hidden = { visible: false };
    return draw("plot-learning-curve", traces, layout({ xaxis: hidden, yaxis: hidden, yaxis2: hidden, annotations }));
  }
  return draw("plot-learning-curve", traces, layout({
    xaxis: logAxis("labels"),
    yaxis: logAxis("force MAE (eV/Å)", { title: { text: "force MAE (eV/Å)", font: { color: COLORS.force } } }),
    yaxis2: logAxis("energy MAE (eV)", {
      title: { text: "energy MAE (eV)", font: { color: COLORS.energy } }, overlaying: "y", side: "right", showgrid: false,
    }),
    margin: { l: 64, r: 64, t: 28, b: 48 },
    shapes, annotations,
  }));
}

function drawLabels(d) {
  const parts = [
    ["train", "train labels"], ["validation", "validation labels"], ["quarantined", "quarantined"],
    ["failed", "failed"], ["pending", "pending"],
  ];
  const traces = parts
    .filter(([key]) => key === "train" || key === "validation" || d[key].some((n) => n > 0))
    .map(([key, name]) => ({
      name, type: "bar", x: d.generation, y: d[key], marker: { color: COLORS[key] },
      hovertemplate: `generation %{x}<br>${name}: %{y}<extra></extra>`,
    }));
  return draw("plot-labels", traces, layout({
    barmode: "stack", xaxis: generationAxis(), yaxis: countAxis("calculations", [stackedTotals(traces)]),
    annotations: d.generation.length ? [] : noData("no generation yet"),
  }));
}

function drawUncertainty(d) {
  const traces = [
    {
      name: "explored frames", type: "box", x: d.generation, q1: d.q1, median: d.median, q3: d.q3,
      lowerfence: d.min, upperfence: d.max, mean: d.mean, boxpoints: false,
      marker: { color: COLORS.box }, line: { width: 1.5 }, fillcolor: "rgba(31,78,121,0.25)",
    },
    {
      name: "selection threshold", type: "scatter", mode: "lines+markers", x: d.threshold.generation, y: d.threshold.eV_per_A,
      line: { color: COLORS.threshold, dash: "dash", width: 2 }, marker: { color: COLORS.threshold, symbol: "line-ew-open", size: 14 },
      hovertemplate: "generation %{x}<br>threshold %{y:.3g} eV/Å<extra></extra>",
    },
  ];
  const positive = d.min.every((v) => v > 0);
  return draw("plot-uncertainty", traces, layout({
    xaxis: generationAxis(),
    yaxis: positive && d.min.length
      ? logAxis("max force std (eV/Å)")
      : { title: { text: "max force std (eV/Å)" }, gridcolor: "#eef1f5" },
    annotations: d.generation.length ? [] : noData("no MD walker recorded yet"),
  }));
}

function drawWalkers(d) {
  const traces = Object.entries(d.reasons).map(([reason, counts], i) => ({
    name: reason, type: "bar", x: d.generation, y: counts,
    marker: { color: COLORS[reason] ?? (reason.startsWith("guard") ? COLORS.failed : PALETTE[i % PALETTE.length]) },
    hovertemplate: `generation %{x}<br>${reason}: %{y} walkers<extra></extra>`,
  }));
  traces.push({
    name: "simulated ps (campaign total)", type: "scatter", mode: "lines+markers", x: d.generation,
    y: d.simulated_ps_total, yaxis: "y2", line: { color: "#444" },
    hovertemplate: "generation %{x}<br>%{y:.3g} ps simulated so far<extra></extra>",
  });
  return draw("plot-walkers", traces, layout({
    barmode: "stack", xaxis: generationAxis(), yaxis: countAxis("walkers", [d.walkers]),
    yaxis2: { title: { text: "simulated ps" }, overlaying: "y", side: "right", rangemode: "tozero", showgrid: false },
    annotations: d.generation.length ? [] : noData("no MD walker recorded yet"),
  }));
}

function drawTimings(d) {
  const parts = [["oracle_s", "oracle"], ["training_s", "training"], ["md_s", "MD"], ["orchestration_s", "orchestration"]];
  const traces = parts.map(([key, name]) => ({
    name: `${name} (${fmtDuration(d.totals[key])} in all)`, type: "bar", x: d.generation, y: d[key],
    marker: { color: COLORS[key] }, hovertemplate: `generation %{x}<br>${name}: %{y:.3g} s<extra></extra>`,
  }));
  return draw("plot-timings", traces, layout({
    barmode: "stack", xaxis: generationAxis(), yaxis: { title: { text: "seconds" }, gridcolor: "#eef1f5" },
    annotations: d.generation.length ? [] : noData("no finished generation yet"),
  }));
}

function renderHeader(c) {
  const badge = document.getElementById("c-state");
  badge.textContent = c.state;
  badge.className = `state state-${c.state}`;
  root.dataset.state = c.state;
  document.getElementById("c-message").textContent = c.message ?? "";
  document.getElementById("c-progress").value = c.progress;
  document.getElementById("c-generations").textContent = `${c.complete_generations} / ${c.max_generations}`;
  document.getElementById("c-labels").textContent = `${c.labels} / ${c.max_labels}`;
  document.getElementById("c-quarantined").textContent = String(c.quarantined);
  document.getElementById("c-force-mae").textContent =
    c.stated_force_mae_eV_per_A === null ? "–" : `${fmtStated(c.stated_force_mae_eV_per_A, c.stated_interval_eV_per_A)} eV/Å`;
  document.getElementById("c-energy-mae").textContent = c.energy_mae_eV === null ? "–" : `${fmt(c.energy_mae_eV)} eV`;
}

function renderGenerations(rows) {
  const tbody = document.querySelector("#generations tbody");
  const trs = [...rows].reverse().map((g) => el("tr", {}, [
    cell(g.index, "num"),
    el("td", {}, [stateBadge(g.state)]),
    cell(`${g.labels} (${g.train_labels} + ${g.validation_labels})`, "num"),
    cell(g.quarantined, "num"),
    cell(`${g.failed} / ${g.pending}`, "num"),
    cell(fmtStated(g.stated_force_mae_eV_per_A, g.stated_interval_eV_per_A), "num"),
    cell(fmt(g.force_mae_eV_per_A), "num"),
    cell(fmt(g.energy_mae_eV), "num"),
    cell(fmtPercent(g.confident_fraction), "num"),
    cell(fmt(g.threshold_eV_per_A), "num"),
    cell(g.simulated_ps == null ? "–" : `${fmt(g.simulated_ps)} (${fmt(g.simulated_ps_total)})`, "num"),
    cell(fmtPercent(g.md_completed_fraction), "num"),
    cell(fmtDuration(g.total_s), "num"),
    cell(g.fit_error ? `fit error: ${g.fit_error}` : (g.decision ?? ""), "reason"),
    el("td", {}, g.flow_run_url
      ? [el("a", { text: "Prefect ↗", href: g.flow_run_url, title: g.flow_run_id, external: true, cls: "flow-run" })]
      : ["–"]),
  ]));
  replaceRows(tbody, trs, "No generation yet.", 14);
}

function renderRejected(d) {
  document.getElementById("reasons").replaceChildren(
    ...d.reasons.map((r) => el("li", {}, [el("span", { text: `${r.count}×`, cls: "count" }), r.error])),
  );
  const trs = d.rejected.map((r) => el("tr", {}, [
    cell(r.generation, "num"), cell(r.calculation_id, "num"), cell(r.structure_id, "num"), cell(r.formula),
    cell(r.status), cell(r.error ?? "", "reason"), cell(fmtTime(r.finished_at)),
  ]));
  replaceRows(document.querySelector("#rejected tbody"), trs, "No quarantined or failed calculation.", 7);
}

function renderStructures(d) {
  const trs = d.structures.map((s) => el("tr", {}, [
    cell(s.generation, "num"), cell(s.structure_id, "num"), cell(s.formula), cell(s.n_atoms, "num"),
    cell(s.energy_eV === null ? "–" : s.energy_eV.toFixed(4), "num"), cell(fmt(s.uncertainty_eV_per_A), "num"),
    cell(s.split ?? "–"), cell(s.reason ?? "–"), cell(fmtDuration(s.wall_time_s), "num"), cell(fmtTime(s.finished_at)),
  ]));
  replaceRows(document.querySelector("#structures tbody"), trs, "No labelled structure yet.", 10);
}

async function refreshViews() {
  const [curve, labels, uncertainty, walkers, timings, structures] = await Promise.all(
    ["learning-curve", "labels?limit=50", "uncertainty", "walkers", "timings", "structures?limit=20"]
      .map((path) => getJSON(`${api}/${path}`)),
  );
  renderRejected(labels);
  renderStructures(structures);
  await Promise.all([
    drawLearningCurve(curve), drawLabels(labels), drawUncertainty(uncertainty), drawWalkers(walkers), drawTimings(timings),
  ]);
}

let lastSignature = null;

function signature(c) {
  const last = c.generation_rows.at(-1);
  return JSON.stringify([
    c.state, c.generations, c.complete_generations, c.labels, c.quarantined, c.failed, c.pending, c.updated_at,
    last?.state, last?.finished_at,
  ]);
}

async function refresh() {
  let live = LIVE_STATES.has(root.dataset.state);
  try {
    if (!document.hidden || lastSignature === null) {
      const campaign = await getJSON(api);
      live = LIVE_STATES.has(campaign.state);
      renderHeader(campaign);
      renderGenerations(campaign.generation_rows);
      const current = signature(campaign);
      if (live || current !== lastSignature) {
        await refreshViews();
        lastSignature = current;
      }
      const every = (live ? POLL_RUNNING_MS : POLL_IDLE_MS) / 1000;
      document.getElementById("refreshed").textContent =
        `Updated ${new Date().toLocaleTimeString()} · refreshes every ${every} s${live ? " while the campaign runs" : ""}.`;
      showError(null);
    }
  } catch (error) {
    showError(`Cannot refresh this campaign (${error.message}); retrying.`);
  } finally {
    setTimeout(refresh, live ? POLL_RUNNING_MS : POLL_IDLE_MS);
  }
}

refresh();
