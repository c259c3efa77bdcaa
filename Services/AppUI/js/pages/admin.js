// Admin: racks (capacity, health, admit, forget), users (create, role, disable), model masters
// (list, create or replace).
import { api } from '../api.js';
import { h, mount, loading, empty, failure, titled, when, num, confirmAction, toast, field, setError } from '../ui.js';

export function render(main, { user }) {
  titled(main, 'Administration');
  if (user.role !== 'admin') {
    main.append(h('p', { class: 'alert', role: 'alert' }, 'This page is for administrators.'));
    return;
  }
  const racks = h('div', { id: 'admin-racks' });
  const users = h('div', { id: 'admin-users' });
  const masters = h('div', { id: 'admin-masters' });
  main.append(
    h('section', { 'aria-labelledby': 'racks-title' }, h('h2', { id: 'racks-title' }, 'Racks'), racks),
    h('section', { 'aria-labelledby': 'users-title' }, h('h2', { id: 'users-title' }, 'Users'), users, userForm()),
    h('section', { 'aria-labelledby': 'masters-title' }, h('h2', { id: 'masters-title' }, 'Model masters'), masters, masterForm()));

  async function loadRacks() {
    mount(racks, loading('Loading racks…'));
    try {
      const reply = await api('GET', '/racks');
      if (!reply.racks.length) { mount(racks, empty('No racks admitted.')); return; }
      mount(racks, h('table', { id: 'racks-table' }, h('thead', {}, h('tr', {}, ['Rack', 'Provider', 'Location', 'GPU model', 'Used', 'Free', 'Total', 'Price/GPU-h', 'Health', 'Last heartbeat', '']
        .map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, reply.racks.map((r) => h('tr', {}, h('td', {}, r.rack.id), h('td', {}, r.rack.provider), h('td', {}, r.rack.location), h('td', {}, r.rack.gpuModel),
        h('td', { class: 'num' }, r.usedGpus), h('td', { class: 'num' }, r.freeGpus), h('td', { class: 'num' }, r.rack.gpuCount),
        h('td', { class: 'num' }, num(r.rack.pricePerGpuHour)), h('td', {}, r.healthy ? 'healthy' : 'no heartbeat'),
        h('td', {}, r.lastHeartbeatAt ? when(new Date(r.lastHeartbeatAt).toISOString()) : '—'),
        h('td', {}, h('button', { type: 'button', class: 'danger', 'aria-label': `Forget rack ${r.rack.id}`, onclick: () => forget(r.rack.id) }, 'Forget')))))));
    } catch (error) {
      if (error.status !== 401) mount(racks, failure(error, loadRacks));
    }
  }
  async function forget(id) {
    if (!(await confirmAction(`Forget rack ${id}?`, 'Only a rack without live jobs can be forgotten; its worker must be admitted again to serve jobs.', 'Forget rack'))) return;
    try { await api('DELETE', `/racks/${encodeURIComponent(id)}`); toast(`Rack ${id} forgotten`); loadRacks(); } catch (error) { toast(error.message, 'error'); }
  }

  async function loadUsers() {
    mount(users, loading('Loading users…'));
    try {
      const reply = await api('GET', '/users');
      mount(users, h('table', { id: 'users-table' }, h('thead', {}, h('tr', {}, ['Name', 'Role', 'Status', 'Created', ''].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, reply.users.map((u) => h('tr', {}, h('td', {}, u.name), h('td', {}, u.role), h('td', {}, u.disabled ? 'disabled' : 'active'), h('td', {}, when(u.createdAt)),
          h('td', {}, u.id === user.id ? h('span', { class: 'muted' }, 'you') : h('div', { class: 'row' },
            h('button', { type: 'button', class: 'secondary', onclick: () => update(u, { disabled: !u.disabled }) }, u.disabled ? 'Enable' : 'Disable'),
            h('button', { type: 'button', class: 'secondary', onclick: () => update(u, { role: u.role === 'admin' ? 'user' : 'admin' }) }, u.role === 'admin' ? 'Make user' : 'Make admin'))))))));
    } catch (error) {
      if (error.status !== 401) mount(users, failure(error, loadUsers));
    }
  }
  async function update(u, change) {
    const what = change.role ? `Change ${u.name}'s role to ${change.role}?` : `${change.disabled ? 'Disable' : 'Enable'} ${u.name}?`;
    if (!(await confirmAction(what, change.disabled ? 'A disabled user cannot sign in.' : 'The change applies at once.'))) return;
    try { await api('PATCH', `/users/${u.id}`, change); toast('User updated'); loadUsers(); } catch (error) { toast(error.message, 'error'); }
  }
  function userForm() {
    const name = h('input', { autocomplete: 'off' });
    const password = h('input', { type: 'password', autocomplete: 'new-password' });
    const role = h('select', {}, h('option', { value: 'user' }, 'user'), h('option', { value: 'admin' }, 'admin'));
    const form = h('form', { class: 'panel', novalidate: true }, h('h3', {}, 'Create a user'),
      field('new-user-name', 'Name', name), field('new-user-password', 'Password', password, 'At least 12 characters is a good idea.'),
      field('new-user-role', 'Role', role), h('button', { type: 'submit' }, 'Create user'));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      setError(name, name.value.trim() ? '' : 'Enter a name.');
      setError(password, password.value ? '' : 'Enter a password.');
      if (!name.value.trim() || !password.value) return;
      try {
        await api('POST', '/users', { name: name.value.trim(), password: password.value, role: role.value });
        toast(`User ${name.value.trim()} created`);
        name.value = ''; password.value = '';
        loadUsers();
      } catch (error) { setError(name, error.message); }
    });
    return form;
  }

  async function loadMasters() {
    mount(masters, loading('Loading model masters…'));
    try {
      const reply = await api('GET', '/model-masters');
      if (!reply.modelMasters.length) { mount(masters, empty('No model masters: inference jobs use the engine defaults.')); return; }
      mount(masters, h('table', { id: 'masters-table' }, h('thead', {}, h('tr', {}, ['Model', 'GPUs/replica', 'Max length', 'Dtype', 'GPU memory', 'Extra args'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, reply.modelMasters.map((m) => h('tr', {}, h('td', {}, h('code', {}, m.model)), h('td', { class: 'num' }, m.gpuCount),
          h('td', { class: 'num' }, m.serving?.maxModelLength ?? '—'), h('td', {}, m.serving?.dtype ?? '—'),
          h('td', { class: 'num' }, m.serving?.gpuMemoryUtilization ?? '—'), h('td', {}, (m.serving?.extraArgs || []).join(' ')))))));
    } catch (error) {
      if (error.status !== 401) mount(masters, failure(error, loadMasters));
    }
  }
  function masterForm() {
    const model = h('input', { autocomplete: 'off', placeholder: 'Qwen/Qwen2.5-0.5B-Instruct' });
    const gpus = h('input', { type: 'number', min: '1', value: '1' });
    const length = h('input', { type: 'number', min: '1' });
    const dtype = h('select', {}, ['', 'auto', 'bfloat16', 'float16', 'float32'].map((d) => h('option', { value: d }, d || 'engine default')));
    const memory = h('input', { type: 'number', min: '0.05', max: '1', step: '0.05' });
    const form = h('form', { class: 'panel', novalidate: true }, h('h3', {}, 'Add or replace a model master'),
      field('master-model', 'Model (Hugging Face id)', model), field('master-gpus', 'GPUs per replica', gpus),
      field('master-length', 'Max model length', length), field('master-dtype', 'Dtype', dtype), field('master-memory', 'GPU memory utilization', memory),
      h('button', { type: 'submit' }, 'Save model master'));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const body = { model: model.value.trim(), gpuCount: Number(gpus.value), serving: {} };
      setError(model, body.model && !/\s/.test(body.model) ? '' : 'Enter a Hugging Face id such as org/name.');
      setError(gpus, Number.isInteger(body.gpuCount) && body.gpuCount >= 1 ? '' : 'At least 1 GPU.');
      if (form.querySelector('[aria-invalid]')) return;
      if (length.value) body.serving.maxModelLength = Number(length.value);
      if (dtype.value) body.serving.dtype = dtype.value;
      if (memory.value) body.serving.gpuMemoryUtilization = Number(memory.value);
      try { await api('PUT', '/model-masters', body); toast(`Model master ${body.model} saved`); loadMasters(); } catch (error) { setError(model, error.message); }
    });
    return form;
  }

  loadRacks();
  loadUsers();
  loadMasters();
}
