// Sign in with name and password (POST /auth/login sets the HttpOnly session cookie).
import { api } from '../api.js';
import { h, field, setError, titled } from '../ui.js';

export function render(main, { notice, signedIn }) {
  document.getElementById('top').hidden = true;
  const box = h('section', { class: 'panel login' });
  main.append(box);
  titled(box, 'Sign in to CosmicAC');
  const name = h('input', { name: 'username', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const status = h('div', { class: 'form-error', role: 'alert', id: 'login-error' });
  const submit = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { novalidate: true },
    notice ? h('p', { class: 'notice', role: 'status', id: 'login-notice' }, notice) : null,
    field('login-name', 'Name', name),
    field('login-password', 'Password', password),
    status, h('div', { class: 'row' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    status.textContent = '';
    setError(name, name.value.trim() ? '' : 'Enter your name.');
    setError(password, password.value ? '' : 'Enter your password.');
    if (!name.value.trim() || !password.value) { (name.value.trim() ? password : name).focus(); return; }
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    try {
      const reply = await api('POST', '/auth/login', { name: name.value.trim(), password: password.value }, { quiet401: true });
      signedIn(reply.user);
    } catch (error) {
      status.textContent = error.status === 401 ? 'The name or password is wrong.' : error.message;
      password.value = '';
      password.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = 'Sign in';
    }
  });
  box.append(form);
  name.focus();
}
