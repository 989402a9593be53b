// Helpers shared by the dashboard pages: JSON fetches, DOM building with textContent only
// (data never goes through innerHTML), number and time formatting, the error banner.

export async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      detail = (await response.json()).detail ?? detail;
    } catch {
      // the body was not JSON: keep the status text
    }
    throw new Error(`${url}: ${response.status} ${detail}`);
  }
  return response.json();
}

// An element with text content, a class, an href (site paths or http(s) URLs from the API),
// a title and child nodes.
export function el(tag, { text, cls, href, title, external } = {}, children = []) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  if (href) node.href = href;
  if (title) node.title = title;
  if (external) {
    node.target = "_blank";
    node.rel = "noopener noreferrer";
  }
  for (const child of children) node.append(child);
  return node;
}

export function cell(text, cls) {
  return el("td", { text, cls });
}

export function replaceRows(tbody, rows, emptyText, columns) {
  if (rows.length === 0) {
    rows = [el("tr", { cls: "empty" }, [Object.assign(el("td", { text: emptyText }), { colSpan: columns })])];
  }
  tbody.replaceChildren(...rows);
}

/** A stated force MAE with its 90 % interval where there is one: "0.031 (0.025–0.041)". */
export function fmtStated(value, interval) {
  if (value === null || value === undefined) return "–";
  return interval ? `${fmt(value)} (${fmt(interval[0])}–${fmt(interval[1])})` : fmt(value);
}

export function fmt(value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude >= 1e5 || magnitude < 1e-3)) return value.toExponential(digits - 1);
  return String(Number(value.toPrecision(digits)));
}

export function fmtPercent(value) {
  return value === null || value === undefined ? "–" : `${(100 * value).toFixed(0)}%`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

export function fmtTime(iso) {
  if (!iso) return "–";
  return new Date(iso).toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

export function showError(message) {
  const banner = document.getElementById("error");
  banner.textContent = message ?? "";
  banner.hidden = !message;
}

export function stateBadge(state) {
  return el("span", { text: state, cls: `state state-${state}` });
}
