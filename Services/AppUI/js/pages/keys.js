// API keys: list, create (the secret is shown once, with copy and an "I have saved the key"
// step), revoke (confirmed).
import { api } from '../api.js';
import { h, mount, loading, empty, failure, when, titled, confirmAction, toast, copy, field, setError } from '../ui.js';

/** Shows a just-created key once; resolves when the user confirmed saving it. */
export function showSecret(container, created) {
  return new Promise((resolve) => {
    const saved = h('input', { type: 'checkbox', id: 'key-saved' });
    const done = h('button', { type: 'button', id: 'key-done', disabled: true }, 'Done');
    saved.addEventListener('change', () => { done.disabled = !saved.checked; });
    const secret = h('code', { id: 'new-key-secret', class: 'mono' }, created.key);
    const box = h('section', { class: 'panel secret', id: 'new-key', role: 'region', 'aria-labelledby': 'new-key-title' },
      h('h2', { id: 'new-key-title', tabindex: '-1' }, `Your new key “${created.apiKey.name}”`),
      h('p', {}, h('strong', {}, 'Copy it now: it is shown only this once.'), ' CosmicAC keeps only a digest of it.'),
      h('p', {}, secret, ' ', h('button', { type: 'button', class: 'secondary', id: 'copy-key', onclick: () => copy(created.key) }, 'Copy key')),
      h('div', { class: 'inline field' }, saved, ' ', h('label', { for: 'key-saved' }, 'I have saved the key somewhere safe')), done);
    done.addEventListener('click', () => { box.remove(); resolve(); });
    container.prepend(box);
    box.querySelector('h2').focus();
  });
}

export function render(main) {
  titled(main, 'API keys');
  main.append(h('p', { class: 'muted' }, 'Keys call your inference endpoints through ', h('code', {}, '/inference/v1/…'),
    ' as ', h('code', {}, 'Authorization: Bearer KEY'), ' or ', h('code', {}, 'X-API-Key: KEY'), '.'));
  const top = h('div');
  const name = h('input', { autocomplete: 'off', maxlength: '64' });
  const submit = h('button', { type: 'submit', id: 'create-key' }, 'Create key');
  const form = h('form', { class: 'panel', novalidate: true, 'aria-labelledby': 'new-key-form' },
    h('h2', { id: 'new-key-form' }, 'Create a key'), field('key-name', 'Name', name, 'What the key is for, e.g. “chat-app”.'), submit);
  const list = h('div', { id: 'keys-list' });
  main.append(top, form, list);

  async function load() {
    mount(list, loading('Loading keys…'));
    try {
      const { apiKeys } = await api('GET', '/api-keys');
      if (!apiKeys.length) { mount(list, empty('No API keys yet. Create one above.')); return; }
      mount(list, h('table', { id: 'keys-table' }, h('caption', { class: 'visually-hidden' }, 'Your API keys'),
        h('thead', {}, h('tr', {}, ['Name', 'Prefix', 'Status', 'Created', 'Last used', ''].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, apiKeys.map((key) => h('tr', { 'data-key-id': key.id },
          h('td', {}, key.name), h('td', {}, h('code', {}, key.prefix + '…')), h('td', {}, key.status),
          h('td', {}, when(key.createdAt)), h('td', {}, key.lastUsedAt ? when(key.lastUsedAt) : 'never'),
          h('td', {}, key.status === 'active' ? h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke ${key.name}`,
            onclick: () => revoke(key) }, 'Revoke') : null))))));
    } catch (error) {
      if (error.status !== 401) mount(list, failure(error, load));
    }
  }

  async function revoke(key) {
    if (!(await confirmAction(`Revoke “${key.name}”?`, 'Requests with this key fail from now on. This cannot be undone.', 'Revoke key'))) return;
    try {
      await api('DELETE', `/api-keys/${key.id}`);
      toast(`Key “${key.name}” revoked`);
      load();
    } catch (error) {
      toast(error.message, 'error');
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = name.value.trim();
    setError(name, value ? '' : 'Give the key a name.');
    if (!value) { name.focus(); return; }
    submit.disabled = true;
    try {
      const created = await api('POST', '/api-keys', { name: value });
      name.value = '';
      load();
      form.hidden = true;
      await showSecret(top, created);
      form.hidden = false;
      name.focus();
    } catch (error) {
      setError(name, error.message);
    } finally {
      submit.disabled = false;
    }
  });
  load();
}
