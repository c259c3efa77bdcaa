// Charts drawn as SVG (no library): stacked daily bars and horizontal bars. Each chart has a
// title and description for assistive technology; the numbers are also in a table beside it.
const NS = 'http://www.w3.org/2000/svg';
const COLORS = ['#1f5fbf', '#e07b00', '#1b7f3b', '#9c27b0', '#b3261e', '#00838f', '#6d4c41', '#5c6bc0'];

function el(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

export const color = (i) => COLORS[i % COLORS.length];

/** Stacked bars: `days` on x, one series per `series` name; values[day][series]. */
export function stackedBars({ title, days, series, values, unit }) {
  const width = 640, height = 260, left = 56, bottom = 40, top = 16;
  const totals = days.map((d) => series.reduce((s, name) => s + (values[d]?.[name] || 0), 0));
  const max = Math.max(1, ...totals);
  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-labelledby': 'c-t c-d' });
  const id = Math.random().toString(36).slice(2);
  svg.setAttribute('aria-labelledby', `t${id} d${id}`);
  svg.append(el('title', { id: `t${id}` }, title), el('desc', { id: `d${id}` }, `${series.length} series over ${days.length} days; the largest day is ${max} ${unit}.`));
  const plot = height - bottom - top;
  for (let i = 0; i <= 4; i += 1) {
    const y = top + plot - (plot * i) / 4;
    svg.append(el('line', { x1: left, x2: width - 8, y1: y, y2: y, stroke: '#e3e8ee' }));
    svg.append(el('text', { x: left - 6, y: y + 4, 'text-anchor': 'end' }, Math.round((max * i) / 4).toLocaleString()));
  }
  const step = (width - left - 8) / Math.max(1, days.length);
  const bar = Math.max(2, step * 0.7);
  days.forEach((day, i) => {
    let y = top + plot;
    const x = left + i * step + (step - bar) / 2;
    series.forEach((name, s) => {
      const value = values[day]?.[name] || 0;
      if (!value) return;
      const h = (plot * value) / max;
      y -= h;
      const rect = el('rect', { x, y, width: bar, height: h, fill: color(s) });
      rect.append(el('title', {}, `${day} · ${name}: ${value.toLocaleString()} ${unit}`));
      svg.append(rect);
    });
    if (days.length <= 16 || i % Math.ceil(days.length / 8) === 0) {
      svg.append(el('text', { x: x + bar / 2, y: height - bottom + 16, 'text-anchor': 'middle' }, day.slice(5)));
    }
  });
  return svg;
}

/** Horizontal bars: one per item {label, value}. */
export function horizontalBars({ title, items, unit }) {
  const row = 26, left = 170, width = 640;
  const height = Math.max(60, items.length * row + 24);
  const max = Math.max(1e-9, ...items.map((i) => i.value));
  const id = Math.random().toString(36).slice(2);
  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-labelledby': `t${id} d${id}` });
  svg.append(el('title', { id: `t${id}` }, title), el('desc', { id: `d${id}` }, `${items.length} bars; the largest is ${max.toFixed(3)} ${unit}.`));
  items.forEach((item, i) => {
    const y = 12 + i * row;
    const w = ((width - left - 90) * item.value) / max;
    svg.append(el('text', { x: left - 8, y: y + 14, 'text-anchor': 'end' }, item.label.length > 24 ? item.label.slice(0, 23) + '…' : item.label));
    const rect = el('rect', { x: left, y, width: Math.max(1, w), height: row - 8, fill: color(i) });
    rect.append(el('title', {}, `${item.label}: ${item.value.toFixed(3)} ${unit}`));
    svg.append(rect, el('text', { x: left + w + 6, y: y + 14 }, `${item.value.toFixed(3)} ${unit}`));
  });
  return svg;
}
