// Create a job: GPU Container (Basics, Hardware, Image & access) or Managed Inference (Basics,
// Hardware, Model to serve, Serving configuration, Endpoint). Every field is checked before
// submitting; the API's own answer (422 with the reason) is shown as well. Admins see every
// rack's free GPUs; others see what the API tells them (a job that cannot be placed waits in
// `scheduling` with a message).
import { api } from '../api.js';
import { h, field, setError, titled, failure, loading, num } from '../ui.js';

const WORD = /^[A-Za-z0-9._-]{1,64}$/;

function input(attrs) { return h('input', { autocomplete: 'off', ...attrs }); }

export function render(main, { user }) {
  titled(main, 'Create a job');
  const f = {
    kind: 'gpu-container',
    name: input({ required: true }), tags: input({ required: true, placeholder: 'ml, experiment' }),
    location: input({ required: true, value: 'us' }), costLimit: input({ type: 'number', min: '0', step: 'any' }),
    gpuModel: input({ required: true, list: 'gpu-models' }), gpuCount: input({ type: 'number', min: '1', value: '1', required: true }),
    nodeCount: input({ type: 'number', min: '1', value: '1' }), cuda: input({ placeholder: 'CUDA 12.8' }),
    cpuPerGpu: input({ type: 'number', min: '1' }), memoryGbPerGpu: input({ type: 'number', min: '1' }),
    image: input({ value: 'Ubuntu22.04/CUDA12.8.1' }), diskGb: input({ type: 'number', min: '1', value: '50' }),
    model: input({ list: 'model-masters', placeholder: 'Qwen/Qwen2.5-0.5B-Instruct' }), replicas: input({ type: 'number', min: '1', value: '1' }),
    maxModelLength: input({ type: 'number', min: '1' }),
    dtype: h('select', {}, ['', 'auto', 'bfloat16', 'float16', 'float32'].map((d) => h('option', { value: d }, d || 'model default'))),
    gpuMemoryUtilization: input({ type: 'number', min: '0.05', max: '1', step: '0.05' }), extraArgs: input({ placeholder: '--enforce-eager' }),
    endpointName: input({}), requireAuthorization: h('input', { type: 'checkbox', checked: true }),
    maxTokensCap: input({ type: 'number', min: '1' }), nCap: input({ type: 'number', min: '1' }),
  };
  const kindGroup = h('fieldset', {}, h('legend', {}, 'Kind of job'),
    ['gpu-container', 'managed-inference'].map((k) => h('div', { class: 'inline' },
      h('input', { type: 'radio', name: 'kind', id: `kind-${k}`, value: k, checked: k === f.kind,
        onchange: () => { f.kind = k; sync(); } }),
      ' ', h('label', { for: `kind-${k}` }, k === 'gpu-container' ? 'GPU Container (a machine with GPUs and a shell)' : 'Managed Inference (an OpenAI-compatible endpoint)'))));
  const basics = h('fieldset', {}, h('legend', {}, 'Basics'),
    field('job-name', 'Name', f.name, 'Letters, digits, ".", "_" or "-", up to 64.'),
    field('job-tags', 'Tags', f.tags, 'One or more, separated by commas.'),
    field('job-location', 'Location', f.location, 'Where it runs, e.g. us.'),
    field('job-cost', 'Cost limit (optional)', f.costLimit, 'The job stops when its GPU-hours × price reach this.'));
  const hardware = h('fieldset', {}, h('legend', {}, 'Hardware'),
    field('job-gpu-model', 'GPU model', f.gpuModel), h('datalist', { id: 'gpu-models' }),
    field('job-gpu-count', 'GPUs per node', f.gpuCount),
    field('job-node-count', 'Nodes', f.nodeCount, 'More than one node are linked with InfiniBand; placed all or nothing.'),
    field('job-cuda', 'CUDA line (optional)', f.cuda),
    field('job-cpu', 'CPUs per GPU (optional)', f.cpuPerGpu),
    field('job-mem', 'Memory GB per GPU (optional)', f.memoryGbPerGpu));
  const image = h('fieldset', { 'data-for': 'gpu-container' }, h('legend', {}, 'Image & access'),
    field('job-image', 'Base image', f.image, 'Mapped to a registry image by the operator’s catalogue.'),
    field('job-disk', 'Disk (GB)', f.diskGb),
    h('p', { class: 'muted' }, 'Shell access: the CLI’s key is registered when you run ', h('code', {}, 'cosmicac login'),
      '; then ', h('code', {}, 'cosmicac jobs shell JOB_ID'), ' opens a shell (shown on the job’s page).'));
  const modelSet = h('fieldset', { 'data-for': 'managed-inference' }, h('legend', {}, 'Model to serve'),
    field('job-model', 'Model (Hugging Face id)', f.model), h('datalist', { id: 'model-masters' }),
    h('div', { id: 'master-note', class: 'muted' }),
    field('job-replicas', 'Replicas', f.replicas));
  const serving = h('fieldset', { 'data-for': 'managed-inference' }, h('legend', {}, 'Serving configuration'),
    h('p', { class: 'muted' }, 'Empty fields take the model master’s defaults.'),
    field('job-max-len', 'Max model length (tokens)', f.maxModelLength), field('job-dtype', 'Data type', f.dtype),
    field('job-gpu-mem', 'GPU memory utilization (0–1)', f.gpuMemoryUtilization),
    field('job-extra', 'Extra engine arguments', f.extraArgs, 'Separated by spaces.'));
  const endpoint = h('fieldset', { 'data-for': 'managed-inference' }, h('legend', {}, 'Endpoint'),
    field('job-endpoint', 'Endpoint name', f.endpointName, 'Clients send it as the model name. Defaults to the job name.'),
    h('div', { class: 'field inline' }, f.requireAuthorization, ' ', h('label', { for: 'job-auth' }, 'Require an API key (Authorization header)')),
    field('job-max-tokens', 'Cap on max_tokens per request', f.maxTokensCap), field('job-n-cap', 'Cap on n per request', f.nCap));
  f.requireAuthorization.id = 'job-auth';
  const summary = h('div', { role: 'alert', id: 'form-errors' });
  const submit = h('button', { type: 'submit', id: 'create-submit' }, 'Create job');
  const form = h('form', { novalidate: true, id: 'create-form' }, summary, kindGroup, basics, hardware, image, modelSet, serving, endpoint,
    h('div', { class: 'row' }, submit, h('a', { href: '#/jobs' }, 'Cancel')));
  const capacity = h('aside', { class: 'panel', 'aria-labelledby': 'cap-title' }, h('h2', { id: 'cap-title' }, 'Capacity'), loading('Loading capacity…'));
  main.append(h('div', { class: 'grid2' }, form, capacity));

  let racks = null;
  let masters = [];
  function sync() {
    for (const set of form.querySelectorAll('[data-for]')) set.hidden = set.dataset.for !== f.kind;
    drawCapacity();
    const master = masters.find((m) => m.model === f.model.value.trim());
    document.getElementById('master-note').textContent = master
      ? `Model master: ${master.gpuCount} GPU(s) per replica${master.serving?.dtype ? ', dtype ' + master.serving.dtype : ''}${master.serving?.maxModelLength ? ', max length ' + master.serving.maxModelLength : ''}.`
      : '';
  }
  function drawCapacity() {
    const body = [h('h2', { id: 'cap-title' }, 'Capacity')];
    if (racks === null) body.push(loading('Loading capacity…'));
    else if (racks instanceof Error) {
      body.push(h('p', { class: 'muted' }, user.role === 'admin' ? `Rack capacity is unavailable: ${racks.message}` :
        'Rack capacity is shown to administrators. Your job is placed when a rack in its location has the GPUs; until then it waits in “scheduling” and its status line says why.'));
    } else if (!racks.length) body.push(h('p', { class: 'empty' }, 'No racks are admitted yet; jobs wait in scheduling.'));
    else {
      const want = Number(f.gpuCount.value) || 0;
      const nodes = Number(f.nodeCount.value) || 1;
      const model = f.gpuModel.value.trim();
      const loc = f.location.value.trim();
      const fitting = racks.filter((r) => r.healthy && r.rack.gpuModel === model && r.rack.location === loc && r.freeGpus >= want);
      body.push(h('table', {}, h('thead', {}, h('tr', {}, ['Rack', 'Location', 'GPU model', 'Free / total', 'Price/GPU-h', 'Health'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, racks.map((r) => h('tr', {}, h('td', {}, r.rack.id), h('td', {}, r.rack.location), h('td', {}, r.rack.gpuModel),
          h('td', { class: 'num' }, `${r.freeGpus} / ${r.rack.gpuCount}`), h('td', { class: 'num' }, num(r.rack.pricePerGpuHour)),
          h('td', {}, r.healthy ? 'healthy' : 'no heartbeat'))))));
      if (want < 1 || !model || !loc) {
        body.push(h('p', { id: 'fit', class: 'muted', role: 'status' }, 'Enter the location, GPU model and GPUs per node to see whether the job fits.'));
      } else body.push(h('p', { id: 'fit', class: fitting.length >= nodes ? 'fits' : 'nofit', role: 'status' },
        fitting.length >= nodes ? `Fits now: ${fitting.length} rack(s) have ${want} free ${model} GPU(s) in ${loc}.`
          : `Does not fit now: no ${nodes > 1 ? nodes + ' racks' : 'rack'} with ${want} free ${model || '(GPU model)'} GPU(s) in ${loc || '(location)'}; the job would wait in scheduling.`));
    }
    capacity.replaceChildren(...body);
  }
  for (const el of [f.gpuCount, f.nodeCount, f.gpuModel, f.location, f.model]) el.addEventListener('input', sync);

  const gpuList = form.querySelector('#gpu-models');
  api('GET', '/racks').then((reply) => {
    racks = reply.racks;
    gpuList.replaceChildren(...[...new Set(racks.map((r) => r.rack.gpuModel))].map((m) => h('option', { value: m })));
    if (!f.gpuModel.value && racks[0]) f.gpuModel.value = racks[0].rack.gpuModel;
    if (racks[0] && !racks.some((r) => r.rack.location === f.location.value)) f.location.value = racks[0].rack.location;
    sync();
  }).catch((error) => { racks = error; sync(); });
  api('GET', '/model-masters').then((reply) => {
    masters = reply.modelMasters;
    form.querySelector('#model-masters').replaceChildren(...masters.map((m) => h('option', { value: m.model })));
    sync();
  }).catch(() => {});
  api('GET', '/jobs?limit=50').then((page) => {
    if (racks instanceof Array) return;
    const models = [...new Set(page.items.map((j) => j.gpuModel))];
    gpuList.replaceChildren(...models.map((m) => h('option', { value: m })));
  }).catch(() => {});

  function intOrNull(el, name, problems, min = 1) {
    const text = el.value.trim();
    if (!text) return undefined;
    const value = Number(text);
    if (!Number.isInteger(value) || value < min) { problems.push([el, `${name} must be a whole number of at least ${min}.`]); return undefined; }
    return value;
  }

  function collect() {
    const problems = [];
    const body = { kind: f.kind };
    body.name = f.name.value.trim();
    if (!WORD.test(body.name)) problems.push([f.name, 'Name: 1 to 64 letters, digits, ".", "_" or "-".']);
    body.tags = f.tags.value.split(',').map((t) => t.trim()).filter(Boolean);
    if (!body.tags.length) problems.push([f.tags, 'Add at least one tag.']);
    else if (body.tags.some((t) => !WORD.test(t))) problems.push([f.tags, 'Tags: letters, digits, ".", "_" or "-" only.']);
    body.location = f.location.value.trim();
    if (!body.location) problems.push([f.location, 'Location is required.']);
    if (f.costLimit.value.trim()) {
      const v = Number(f.costLimit.value);
      if (!(v > 0)) problems.push([f.costLimit, 'Cost limit must be a positive number.']);
      else body.costLimit = v;
    }
    body.gpuModel = f.gpuModel.value.trim();
    if (!body.gpuModel) problems.push([f.gpuModel, 'GPU model is required.']);
    body.gpuCount = intOrNull(f.gpuCount, 'GPUs per node', problems);
    if (body.gpuCount === undefined && !problems.some(([el]) => el === f.gpuCount)) problems.push([f.gpuCount, 'GPUs per node is required.']);
    body.nodeCount = intOrNull(f.nodeCount, 'Nodes', problems);
    if (f.cuda.value.trim()) body.cuda = f.cuda.value.trim();
    body.cpuPerGpu = intOrNull(f.cpuPerGpu, 'CPUs per GPU', problems);
    body.memoryGbPerGpu = intOrNull(f.memoryGbPerGpu, 'Memory per GPU', problems);
    if (f.kind === 'gpu-container') {
      body.image = f.image.value.trim();
      if (!body.image) problems.push([f.image, 'Base image is required.']);
      body.diskGb = intOrNull(f.diskGb, 'Disk', problems);
      if (body.diskGb === undefined && !problems.some(([el]) => el === f.diskGb)) problems.push([f.diskGb, 'Disk size is required.']);
    } else {
      body.model = f.model.value.trim();
      if (!body.model || /\s/.test(body.model)) problems.push([f.model, 'Model: a Hugging Face id such as org/name.']);
      body.replicas = intOrNull(f.replicas, 'Replicas', problems);
      const serving = {};
      const len = intOrNull(f.maxModelLength, 'Max model length', problems);
      if (len) serving.maxModelLength = len;
      if (f.dtype.value) serving.dtype = f.dtype.value;
      if (f.gpuMemoryUtilization.value.trim()) {
        const v = Number(f.gpuMemoryUtilization.value);
        if (!(v > 0 && v <= 1)) problems.push([f.gpuMemoryUtilization, 'GPU memory utilization must be above 0 and at most 1.']);
        else serving.gpuMemoryUtilization = v;
      }
      const extra = f.extraArgs.value.trim().split(/\s+/).filter(Boolean);
      if (extra.length) serving.extraArgs = extra;
      if (Object.keys(serving).length) body.serving = serving;
      const endpointName = f.endpointName.value.trim() || body.name;
      if (!WORD.test(endpointName)) problems.push([f.endpointName, 'Endpoint name: 1 to 64 letters, digits, ".", "_" or "-".']);
      body.endpoint = { name: endpointName, requireAuthorization: f.requireAuthorization.checked };
      const mt = intOrNull(f.maxTokensCap, 'max_tokens cap', problems);
      if (mt) body.endpoint.maxTokensCap = mt;
      const n = intOrNull(f.nCap, 'n cap', problems);
      if (n) body.endpoint.nCap = n;
    }
    for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
    return { body, problems };
  }

  const key = crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    for (const el of form.querySelectorAll('[aria-invalid]')) setError(el, '');
    summary.replaceChildren();
    const { body, problems } = collect();
    if (problems.length) {
      for (const [el, message] of problems) setError(el, message);
      summary.replaceChildren(h('div', { class: 'alert' }, h('strong', {}, `Please fix ${problems.length} field${problems.length > 1 ? 's' : ''}:`),
        h('ul', {}, problems.map(([el, message]) => h('li', {}, h('a', { href: '#' + el.id, onclick: (e) => { e.preventDefault(); el.focus(); } }, message))))));
      problems[0][0].focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Creating…';
    try {
      const job = await api('POST', '/jobs', body, { headers: { 'Idempotency-Key': key } });
      location.hash = `#/jobs/${job.id}`;
    } catch (error) {
      summary.replaceChildren(failure(error));
      summary.focus?.();
    } finally {
      submit.disabled = false;
      submit.textContent = 'Create job';
    }
  });
  sync();
}
