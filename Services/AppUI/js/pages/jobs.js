// The jobs list: filters (kind, phase, tag), paging by cursor, live phases from /jobs/stream.
import { api, query, watchJobs } from '../api.js';
import { h, mount, loading, empty, failure, badge, when, titled } from '../ui.js';

const PHASES = ['pending', 'scheduling', 'provisioning', 'starting', 'running', 'stopping', 'stopped',
  'deleting', 'deleted', 'failed', 'unknown'];

export function render(main) {
  const head = h('div', { class: 'row spread' });
  main.append(head);
  titled(head, 'Jobs');
  head.append(h('a', { href: '#/jobs/new', class: 'button' }, 'Create job'));

  const saved = JSON.parse(sessionStorage.getItem('cosmicac.jobs.filters') || '{}');
  const kind = h('select', { id: 'filter-type' }, h('option', { value: '' }, 'All kinds'),
    h('option', { value: 'gpu-container' }, 'GPU Container'), h('option', { value: 'managed-inference' }, 'Managed Inference'));
  const phase = h('select', { id: 'filter-phase' }, h('option', { value: '' }, 'All phases'),
    PHASES.map((p) => h('option', { value: p }, p)));
  const tag = h('input', { id: 'filter-tag', placeholder: 'e.g. ml', autocomplete: 'off' });
  const size = h('select', { id: 'filter-size' }, [25, 50, 100, 200, 1000].map((n) => h('option', { value: n }, String(n))));
  kind.value = saved.type || '';
  phase.value = saved.phase || '';
  tag.value = saved.tag || '';
  size.value = String(saved.size || 50);
  const live = h('span', { class: 'muted', id: 'live-status', role: 'status' }, 'Live updates: connecting…');
  const form = h('form', { class: 'panel row', role: 'search', 'aria-label': 'Filter jobs' },
    h('div', {}, h('label', { for: 'filter-type' }, 'Kind'), kind),
    h('div', {}, h('label', { for: 'filter-phase' }, 'Phase'), phase),
    h('div', {}, h('label', { for: 'filter-tag' }, 'Tag'), tag),
    h('div', {}, h('label', { for: 'filter-size' }, 'Per page'), size),
    h('div', {}, h('button', { type: 'submit' }, 'Apply')), live);
  const body = h('div', { id: 'jobs-body' });
  main.append(form, body);

  let cursors = [undefined];
  let pageIndex = 0;
  let controller = null;
  let shown = new Map();
  let newJobs = 0;

  async function fetchPage(cursor, want, signal) {
    const items = [];
    let next = cursor;
    do {
      const page = await api('GET', '/jobs' + query({
        type: kind.value, phase: phase.value, tag: tag.value.trim(), limit: Math.min(200, want - items.length), cursor: next,
      }), undefined, { signal });
      items.push(...page.items);
      next = page.nextCursor;
    } while (next && items.length < want);
    return { items, next };
  }

  async function load() {
    controller?.abort();
    controller = new AbortController();
    newJobs = 0;
    mount(body, loading('Loading jobs…'));
    const started = performance.now();
    try {
      const { items, next } = await fetchPage(cursors[pageIndex], Number(size.value), controller.signal);
      cursors = cursors.slice(0, pageIndex + 1);
      if (next) cursors.push(next);
      draw(items);
      performance.mark('jobs-rendered');
      body.dataset.renderMs = String(Math.round(performance.now() - started));
      body.dataset.count = String(items.length);
    } catch (error) {
      if (error.name === 'AbortError') return;
      mount(body, failure(error, load));
    }
  }

  function draw(items) {
    shown = new Map();
    if (!items.length) {
      const filtered = kind.value || phase.value || tag.value.trim();
      mount(body, empty(filtered ? 'No jobs match these filters.' : 'No jobs yet. ',
        filtered ? null : h('a', { href: '#/jobs/new' }, 'Create your first job')));
      return;
    }
    const rows = items.map((job) => {
      const phaseCell = h('td', {}, badge(job.phase));
      const messageCell = h('td', { class: 'muted' }, job.message || job.failureReason || '');
      const row = h('tr', { 'data-job-id': job.id },
        h('td', {}, h('a', { href: `#/jobs/${job.id}` }, job.name), h('div', { class: 'muted mono' }, job.id)),
        h('td', {}, job.kind === 'managed-inference' ? 'Managed Inference' : 'GPU Container'),
        phaseCell, h('td', {}, job.desired),
        h('td', {}, `${job.gpuCount} × ${job.gpuModel}`, job.nodeCount > 1 ? ` × ${job.nodeCount} nodes` : ''),
        h('td', {}, job.tags.join(', ')), h('td', {}, when(job.createdAt)), messageCell);
      shown.set(job.id, { phaseCell, messageCell, row });
      return row;
    });
    const table = h('table', { id: 'jobs-table' },
      h('caption', { class: 'visually-hidden' }, 'Your jobs'),
      h('thead', {}, h('tr', {}, ['Name', 'Kind', 'Phase', 'Desired', 'Hardware', 'Tags', 'Created', 'Status']
        .map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows));
    const prev = h('button', { type: 'button', class: 'secondary', disabled: pageIndex === 0,
      onclick: () => { pageIndex -= 1; load(); } }, 'Previous page');
    const next = h('button', { type: 'button', class: 'secondary', disabled: pageIndex + 1 >= cursors.length,
      onclick: () => { pageIndex += 1; load(); } }, 'Next page');
    mount(body, h('div', { id: 'new-jobs' }), table,
      h('div', { class: 'row pager' }, prev, h('span', { class: 'muted' }, `Page ${pageIndex + 1}`), next));
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem('cosmicac.jobs.filters', JSON.stringify({ type: kind.value, phase: phase.value, tag: tag.value.trim(), size: size.value }));
    cursors = [undefined];
    pageIndex = 0;
    load();
  });

  const stop = watchJobs((change) => {
    const entry = shown.get(change.jobId);
    if (entry) {
      entry.phaseCell.replaceChildren(badge(change.phase));
      entry.row.cells[3].textContent = change.desired;
      entry.messageCell.textContent = change.message || '';
      return;
    }
    newJobs += 1;
    const box = document.getElementById('new-jobs');
    if (box) mount(box, h('p', { class: 'notice' }, `${newJobs} job change${newJobs > 1 ? 's' : ''} not on this page. `,
      h('button', { type: 'button', class: 'link', onclick: load }, 'Refresh')));
  }, () => {
    live.textContent = 'Live updates stopped.';
    // The stream ends for good when the session did: asking who we are shows the sign-in page then.
    api('GET', '/auth/me').catch(() => {});
  }, (open) => {
    live.textContent = open ? 'Live updates on' : 'Live updates: reconnecting…';
  });

  load();
  return () => { stop(); controller?.abort(); };
}
