// The inference playground: pick one of your endpoints, paste an API key (or create one here),
// and chat; the answer streams in as the endpoint produces it.
import { api, streamChat } from '../api.js';
import { h, mount, loading, empty, failure, titled, field, setError, toast } from '../ui.js';
import { showSecret } from './keys.js';

export function render(main) {
  titled(main, 'Inference playground');
  const setup = h('div', { class: 'panel' }, loading('Loading your endpoints…'));
  const chat = h('div', { class: 'chat', id: 'chat', 'aria-live': 'polite' });
  const secretBox = h('div');
  main.append(secretBox, setup, chat);
  const controller = { current: null };
  const history = [];

  const endpointSelect = h('select', {});
  const key = h('input', { type: 'password', autocomplete: 'off', placeholder: 'cak_…', spellcheck: 'false' });
  const maxTokens = h('input', { type: 'number', min: '1', value: '128' });
  const prompt = h('textarea', { rows: '3', placeholder: 'Ask something…' });
  const send = h('button', { type: 'submit', id: 'chat-send' }, 'Send');
  const stop = h('button', { type: 'button', class: 'secondary', id: 'chat-stop', disabled: true, onclick: () => controller.current?.abort() }, 'Stop');
  const status = h('p', { class: 'muted', role: 'status', id: 'chat-status' });

  async function createKey() {
    try {
      const created = await api('POST', '/api-keys', { name: `playground-${new Date().toISOString().slice(0, 10)}` });
      key.value = created.key;
      await showSecret(secretBox, created);
      prompt.focus();
    } catch (error) {
      toast(error.message, 'error');
    }
  }

  async function load() {
    try {
      const { endpoints } = await api('GET', '/endpoints');
      if (!endpoints.length) {
        mount(setup, empty('You have no inference endpoints. ', h('a', { href: '#/jobs/new' }, 'Create a Managed Inference job'), ' first.'));
        return;
      }
      endpointSelect.replaceChildren(...endpoints.map((e) => h('option', { value: e.name, 'data-endpoint-id': e.id },
        `${e.name} — ${e.model} (${e.phase})`)));
      const ready = endpoints.find((e) => e.phase === 'running');
      if (ready) endpointSelect.value = ready.name;
      const form = h('form', { id: 'chat-form', novalidate: true },
        h('div', { class: 'grid2' },
          h('div', {}, field('chat-endpoint', 'Endpoint', endpointSelect),
            field('chat-key', 'API key', key, 'Used only in this page, never stored.'),
            h('button', { type: 'button', class: 'link', id: 'chat-create-key', onclick: createKey }, 'Create a key for the playground')),
          h('div', {}, field('chat-max-tokens', 'Max tokens', maxTokens))),
        field('chat-prompt', 'Message', prompt), h('div', { class: 'row' }, send, stop, status));
      prompt.addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) form.requestSubmit(); });
      form.addEventListener('submit', submit);
      mount(setup, form);
    } catch (error) {
      if (error.status !== 401) mount(setup, failure(error, load));
    }
  }

  async function submit(event) {
    event.preventDefault();
    const text = prompt.value.trim();
    setError(prompt, text ? '' : 'Write a message first.');
    setError(key, key.value.trim() ? '' : 'Paste an API key or create one.');
    if (!text || !key.value.trim()) { (key.value.trim() ? prompt : key).focus(); return; }
    history.push({ role: 'user', content: text });
    chat.append(h('div', { class: 'msg user' }, text));
    const answer = h('div', { class: 'msg assistant', 'data-pieces': '0', 'data-done': 'false' });
    chat.append(answer);
    prompt.value = '';
    send.disabled = true;
    stop.disabled = false;
    status.textContent = 'Waiting for the first token…';
    controller.current = new AbortController();
    const started = performance.now();
    let first = null;
    try {
      const result = await streamChat({
        apiKey: key.value.trim(), model: endpointSelect.value, messages: history.slice(), maxTokens: Number(maxTokens.value) || undefined,
        signal: controller.current.signal,
        onDelta(delta, pieces) {
          if (first === null) first = performance.now() - started;
          answer.textContent += delta;
          answer.dataset.pieces = String(pieces);
          status.textContent = `Streaming… ${pieces} pieces`;
        },
      });
      history.push({ role: 'assistant', content: result.text });
      status.textContent = `Done: ${result.pieces} pieces, first after ${Math.round(first ?? 0)} ms, all after ${Math.round(performance.now() - started)} ms.`;
    } catch (error) {
      if (error.name === 'AbortError') status.textContent = 'Stopped.';
      else {
        answer.classList.add('alert');
        answer.textContent = answer.textContent || error.message;
        status.textContent = error.message;
        history.pop();
      }
    } finally {
      answer.dataset.done = 'true';
      send.disabled = false;
      stop.disabled = true;
      controller.current = null;
    }
  }

  load();
  return () => controller.current?.abort();
}
