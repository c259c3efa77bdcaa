// One job: its spec, status, events timeline, stop / start / delete (confirmed), the CLI shell
// command, and for Managed Inference the endpoint URL with a curl example. Follows /jobs/stream.
import { api, watchJobs } from '../api.js';
import { h, mount, loading, failure, badge, when, titled, confirmAction, toast, copyButton, num } from '../ui.js';

const LABELS = {
  kind: 'Kind', location: 'Location', tags: 'Tags', gpuModel: 'GPU model', gpuCount: 'GPUs per node', nodeCount: 'Nodes',
  cuda: 'CUDA', cpuPerGpu: 'CPUs per GPU', memoryGbPerGpu: 'Memory GB per GPU', image: 'Image', diskGb: 'Disk GB',
  model: 'Model', replicas: 'Replicas', costLimit: 'Cost limit', serving: 'Serving', endpoint: 'Endpoint', alerts: 'Alerts',
};

function describe(value) {
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'object' ? JSON.stringify(v) : v)).join(', ');
  if (value && typeof value === 'object') return Object.entries(value).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(' ') : v}`).join('; ');
  return String(value);
}

export function render(main, { params: [id] }) {
  const body = h('div', { id: 'job-detail', 'data-job-id': id }, loading('Loading the job…'));
  main.append(body);
  let endpoints = null;
  let busy = false;

  async function load() {
    try {
      const job = await api('GET', `/jobs/${id}`);
      if (job.kind === 'managed-inference' && endpoints === null) {
        endpoints = await api('GET', '/endpoints').then((r) => r.endpoints).catch(() => []);
      }
      draw(job);
    } catch (error) {
      if (error.status === 404) {
        mount(body, h('h1', { tabindex: '-1' }, 'Job not found'),
          h('p', { class: 'empty' }, 'This job does not exist or is not yours. ', h('a', { href: '#/jobs' }, 'Back to jobs')));
      } else if (error.status !== 401) mount(body, failure(error, load));
    }
  }

  async function command(action) {
    const words = {
      stop: ['Stop this job?', 'The job stops; its disk is kept and you can start it again.', 'Stop job'],
      start: ['Start this job?', 'The job is placed and started again.', 'Start job'],
      delete: ['Delete this job?', 'Everything allocated for it is removed. This cannot be undone.', 'Delete job'],
    }[action];
    if (busy || !(await confirmAction(...words))) return;
    busy = true;
    try {
      const job = action === 'delete' ? await api('DELETE', `/jobs/${id}`) : await api('POST', `/jobs/${id}/${action}`);
      toast(`${words[2]}: requested`);
      draw(job);
    } catch (error) {
      toast(error.message, 'error');
    } finally {
      busy = false;
    }
  }

  function draw(job) {
    const origin = location.origin;
    const running = job.phase === 'running';
    const actions = h('div', { class: 'row', id: 'job-actions' },
      h('button', { type: 'button', id: 'job-stop', class: 'secondary', disabled: !(job.desired === 'running' && ['running', 'starting', 'provisioning'].includes(job.phase)), onclick: () => command('stop') }, 'Stop'),
      h('button', { type: 'button', id: 'job-start', class: 'secondary', disabled: !(job.phase === 'stopped' && job.desired !== 'deleted'), onclick: () => command('start') }, 'Start'),
      h('button', { type: 'button', id: 'job-delete', class: 'danger', disabled: job.desired === 'deleted', onclick: () => command('delete') }, 'Delete'));
    const spec = h('dl', { class: 'spec' }, Object.entries(job.spec).filter(([k, v]) => k !== 'name' && v !== null && v !== undefined)
      .map(([k, v]) => [h('dt', {}, LABELS[k] || k), h('dd', {}, describe(v))]));
    const events = job.events.length ? h('ol', { class: 'timeline', id: 'job-events' }, job.events.slice().reverse().map((e) =>
      h('li', {}, h('strong', {}, e.event), ' → ', badge(e.phase), ' ', h('span', { class: 'muted' }, `by ${e.actor}`), ' · ', when(e.at),
        e.reason ? h('div', { class: 'muted' }, e.reason) : null))) : h('p', { class: 'empty' }, 'No events yet.');
    const sections = [];
    if (job.kind === 'gpu-container') {
      const shell = `cosmicac jobs shell ${job.id}`;
      sections.push(h('section', { class: 'panel', 'aria-labelledby': 'shell-title' }, h('h2', { id: 'shell-title' }, 'Open a shell'),
        h('p', {}, 'With the CosmicAC CLI signed in to this server (once: ', h('code', {}, `cosmicac login ${origin}`), '):'),
        h('pre', { id: 'shell-command' }, shell), copyButton(shell, 'Copy command'),
        running ? null : h('p', { class: 'muted' }, 'The shell is available while the job is running.')));
    } else {
      const endpoint = (endpoints || []).find((e) => e.jobId === job.id);
      const name = endpoint?.name || job.spec.endpoint?.name || job.name;
      const url = `${origin}/inference/v1/chat/completions`;
      const curl = `curl ${url} \\\n  -H "Authorization: Bearer $COSMICAC_API_KEY" \\\n  -H "Content-Type: application/json" \\\n  -d '{"model": "${name}", "messages": [{"role": "user", "content": "Hello"}], "stream": true}'`;
      sections.push(h('section', { class: 'panel', 'aria-labelledby': 'endpoint-title' }, h('h2', { id: 'endpoint-title' }, 'Inference endpoint'),
        h('dl', { class: 'spec' }, h('dt', {}, 'URL'), h('dd', {}, h('code', { id: 'endpoint-url' }, url)),
          h('dt', {}, 'Model name'), h('dd', {}, h('code', {}, name)),
          h('dt', {}, 'Endpoint id'), h('dd', {}, endpoint ? h('code', {}, endpoint.id) : h('span', { class: 'muted' }, 'not recorded yet'))),
        h('p', {}, 'Create an API key on the ', h('a', { href: '#/keys' }, 'API keys'), ' page, then:'),
        h('pre', { id: 'curl-example' }, curl), copyButton(curl, 'Copy curl example'), ' ',
        h('a', { href: '#/playground' }, 'Try it in the playground')));
    }
    mount(body,
      h('div', { class: 'row spread' }, h('h1', { tabindex: '-1' }, job.name), actions),
      h('p', {}, badge(job.phase), ' desired ', h('strong', { id: 'job-desired' }, job.desired), ' · ', h('code', {}, job.id),
        ' · created ', when(job.createdAt), ' · ', `${num(job.gpuSeconds / 3600, 3)} GPU-hours`),
      job.message ? h('p', { class: 'notice', id: 'job-message' }, job.message) : null,
      job.failureReason ? h('p', { class: 'alert' }, `Failed: ${job.failureReason} (attempts: ${job.attempts})`) : null,
      h('div', { class: 'grid2' },
        h('div', {}, ...sections, h('section', { class: 'panel', 'aria-labelledby': 'events-title' }, h('h2', { id: 'events-title' }, 'Events'), events)),
        h('div', {}, h('section', { class: 'panel', 'aria-labelledby': 'spec-title' }, h('h2', { id: 'spec-title' }, 'Specification'), spec),
          job.agents.length ? h('section', { class: 'panel', 'aria-labelledby': 'agents-title' }, h('h2', { id: 'agents-title' }, 'Agents'),
            h('ul', {}, job.agents.map((a) => h('li', {}, `node ${a.node}: `, h('code', {}, a.publicKey.slice(0, 16) + '…'))))) : null)));
    document.title = `${job.name} · CosmicAC`;
  }

  const stop = watchJobs((change) => { if (change.jobId === id) load(); });
  load();
  return stop;
}
