// Usage: tokens per API key and model per day, and GPU-hours per job, each as an SVG chart with
// the same numbers in a table beside it.
import { api, query } from '../api.js';
import { h, mount, loading, empty, failure, titled, num } from '../ui.js';
import { stackedBars, horizontalBars, color } from '../charts.js';

export function render(main) {
  titled(main, 'Usage');
  const days = h('select', { id: 'usage-days' }, [7, 30, 90].map((d) => h('option', { value: d }, `Last ${d} days`)));
  days.value = '30';
  const tokens = h('div', { id: 'usage-tokens' });
  const gpu = h('div', { id: 'usage-gpu' });
  main.append(
    h('div', { class: 'row' }, h('label', { for: 'usage-days' }, 'Period'), h('div', {}, days)),
    h('section', { 'aria-labelledby': 'tokens-title' }, h('h2', { id: 'tokens-title' }, 'Tokens per API key and model per day'), tokens),
    h('section', { 'aria-labelledby': 'gpu-title' }, h('h2', { id: 'gpu-title' }, 'GPU-hours per job'), gpu));

  async function loadTokens() {
    mount(tokens, loading('Loading token usage…'));
    try {
      const report = await api('GET', '/usage/tokens' + query({ days: days.value }));
      if (!report.items.length) { mount(tokens, empty(`No tokens used since ${report.since}. Call an endpoint with an API key to see usage here.`)); return; }
      const allDays = [];
      const start = new Date(report.since + 'T00:00:00Z');
      for (let d = new Date(start); d <= new Date(); d.setUTCDate(d.getUTCDate() + 1)) allDays.push(d.toISOString().slice(0, 10));
      const name = (r) => `${r.apiKeyName} · ${r.model}`;
      const series = [...new Set(report.items.map(name))];
      const values = {};
      for (const r of report.items) {
        values[r.day] ??= {};
        values[r.day][name(r)] = (values[r.day][name(r)] || 0) + r.tokensIn + r.tokensOut;
      }
      const chart = stackedBars({ title: 'Tokens per API key and model per day', days: allDays, series, values, unit: 'tokens' });
      const legend = h('ul', { class: 'legend' }, series.map((s, i) => h('li', {}, h('span', { class: 'swatch', style: `background:${color(i)}` }), s)));
      const table = h('table', { id: 'tokens-table' }, h('caption', { class: 'visually-hidden' }, 'Tokens per key, model and day'),
        h('thead', {}, h('tr', {}, ['Day', 'Key', 'Model', 'Prompt', 'Completion', 'Requests'].map((t, i) => h('th', { scope: 'col', class: i > 2 ? 'num' : null }, t)))),
        h('tbody', {}, report.items.map((r) => h('tr', {}, h('td', {}, r.day), h('td', {}, r.apiKeyName), h('td', {}, r.model),
          h('td', { class: 'num' }, num(r.tokensIn, 0)), h('td', { class: 'num' }, num(r.tokensOut, 0)), h('td', { class: 'num' }, num(r.requests, 0))))));
      mount(tokens, h('div', { class: 'grid2' }, h('figure', { style: 'margin:0' }, chart, h('figcaption', {}, legend)), table));
    } catch (error) {
      if (error.status !== 401) mount(tokens, failure(error, loadTokens));
    }
  }

  async function loadGpu() {
    mount(gpu, loading('Loading GPU usage…'));
    try {
      const report = await api('GET', '/usage/gpu');
      if (!report.items.length) { mount(gpu, empty('No GPU time used yet: running jobs report their GPU-hours here.')); return; }
      const chart = horizontalBars({ title: 'GPU-hours per job', items: report.items.map((r) => ({ label: r.name, value: r.gpuHours })), unit: 'GPU-h' });
      const table = h('table', { id: 'gpu-table' }, h('caption', { class: 'visually-hidden' }, 'GPU-hours per job'),
        h('thead', {}, h('tr', {}, ['Job', 'Kind', 'Phase', 'GPU-hours'].map((t, i) => h('th', { scope: 'col', class: i === 3 ? 'num' : null }, t)))),
        h('tbody', {}, report.items.map((r) => h('tr', {}, h('td', {}, h('a', { href: `#/jobs/${r.jobId}` }, r.name)), h('td', {}, r.kind),
          h('td', {}, r.phase), h('td', { class: 'num' }, num(r.gpuHours, 4))))));
      mount(gpu, h('div', { class: 'grid2' }, chart, table));
    } catch (error) {
      if (error.status !== 401) mount(gpu, failure(error, loadGpu));
    }
  }

  days.addEventListener('change', loadTokens);
  loadTokens();
  loadGpu();
}
