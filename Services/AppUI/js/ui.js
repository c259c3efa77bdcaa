// Small DOM helpers shared by the pages: element building, states, dialogs, toasts, formatting.

/** Creates an element: h('a', {href: '#/x', class: 'y'}, 'text', child…). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
    else if (name === 'class') el.className = value;
    else if (name === 'text') el.textContent = value;
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** The loading state. */
export const loading = (what = 'Loading…') => h('p', { class: 'loading', role: 'status' }, what);

/** The empty state. */
export const empty = (...content) => h('div', { class: 'empty' }, ...content);

/** The error state, with a retry button when `retry` is given. */
export function failure(error, retry) {
  return h('div', { class: 'alert', role: 'alert' },
    h('strong', {}, 'Something went wrong: '), error?.message || String(error),
    retry ? [' ', h('button', { type: 'button', class: 'secondary', onclick: retry }, 'Try again')] : null);
}

/** A short message in the corner (announced to screen readers). */
export function toast(message, kind = 'info') {
  const el = h('div', { class: `toast ${kind}` }, message);
  document.getElementById('toasts').append(el);
  setTimeout(() => el.remove(), 5000);
}

/** Asks for confirmation in a modal dialog; resolves true when confirmed. */
export function confirmAction(title, text, okLabel = 'Confirm') {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = okLabel;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
    dialog.querySelector('button[value=cancel]').focus();
  });
}

/** Copies `text` to the clipboard, falling back to a selection for insecure origins. */
export async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = h('textarea', { class: 'visually-hidden', 'aria-hidden': 'true' });
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }
  toast('Copied to the clipboard');
}

/** A copy button for `text`. */
export const copyButton = (text, label = 'Copy') =>
  h('button', { type: 'button', class: 'secondary', onclick: () => copy(typeof text === 'function' ? text() : text) }, label);

/** A phase badge. */
export const badge = (phase) => h('span', { class: `badge ${phase}`, 'data-phase': phase }, phase);

/** A timestamp for people (local time), with the ISO text in a title. */
export function when(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  return h('time', { datetime: iso, title: iso }, date.toLocaleString());
}

/** A number with a few decimals. */
export const num = (value, digits = 2) =>
  Number(value || 0).toLocaleString(undefined, { maximumFractionDigits: digits });

/** Sets the document title and moves focus to the page heading for screen readers. */
export function titled(main, title) {
  document.title = `${title} · CosmicAC`;
  const heading = h('h1', { tabindex: '-1' }, title);
  main.append(heading);
  return heading;
}

/** A labelled form field: {id, label, hint, input}. */
export function field(id, label, input, hint) {
  input.id = id;
  const hintId = hint ? id + '-hint' : null;
  const errorId = id + '-error';
  if (hintId) input.setAttribute('aria-describedby', `${hintId} ${errorId}`);
  else input.setAttribute('aria-describedby', errorId);
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    input,
    hint ? h('div', { class: 'hint', id: hintId }, hint) : null,
    h('div', { class: 'error', id: errorId }));
}

/** Shows (or clears, with '') a field's error. */
export function setError(input, message) {
  const box = document.getElementById(input.id + '-error');
  if (box) box.textContent = message || '';
  if (message) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}
