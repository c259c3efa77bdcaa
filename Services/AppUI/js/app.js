// The console's shell: who is signed in, the hash router (#/jobs, #/jobs/new, #/jobs/<id>, #/keys,
// #/usage, #/playground, #/admin, #/login), the navigation, and the session-expiry handling.
import { api, onUnauthenticated } from './api.js';
import { h, mount, failure, toast } from './ui.js';

const main = document.getElementById('main');
const session = { user: null, expiredNotice: '' };
let cleanup = null;
let renderSeq = 0;

const routes = [
  [/^#\/jobs\/new$/, 'new', () => import('./pages/create.js')],
  [/^#\/jobs\/(job_[0-9a-f]{16})$/, 'jobs', () => import('./pages/detail.js')],
  [/^#\/jobs$/, 'jobs', () => import('./pages/jobs.js')],
  [/^#\/keys$/, 'keys', () => import('./pages/keys.js')],
  [/^#\/usage$/, 'usage', () => import('./pages/usage.js')],
  [/^#\/playground$/, 'playground', () => import('./pages/playground.js')],
  [/^#\/admin$/, 'admin', () => import('./pages/admin.js')],
];

/** Ends the local view of the session and shows the sign-in page with `notice`. */
function signedOut(notice) {
  if (cleanup) { cleanup(); cleanup = null; }
  session.user = null;
  session.expiredNotice = notice || '';
  document.getElementById('top').hidden = true;
  if (location.hash !== '#/login') {
    sessionStorage.setItem('cosmicac.after', location.hash || '#/jobs');
    location.hash = '#/login';
  } else {
    render();
  }
}

onUnauthenticated(() => {
  if (session.user) signedOut('Your session has ended (it expired or you signed out elsewhere). Sign in again to continue.');
});

function showShell() {
  const top = document.getElementById('top');
  top.hidden = false;
  document.getElementById('who-name').textContent = `${session.user.name} (${session.user.role})`;
  top.querySelector('[data-admin]').hidden = session.user.role !== 'admin';
}

async function render() {
  const seq = ++renderSeq;
  if (cleanup) { cleanup(); cleanup = null; }
  const hash = location.hash || '#/jobs';
  if (hash === '#/login' || !session.user) {
    if (!session.user && hash !== '#/login') { signedOut(''); return; }
    const page = await import('./pages/login.js');
    if (seq !== renderSeq) return;
    mount(main);
    page.render(main, {
      notice: session.expiredNotice,
      signedIn(user) {
        session.user = user;
        session.expiredNotice = '';
        showShell();
        const after = sessionStorage.getItem('cosmicac.after');
        sessionStorage.removeItem('cosmicac.after');
        location.hash = after && after !== '#/login' ? after : '#/jobs';
      },
    });
    return;
  }
  const found = routes.find(([pattern]) => pattern.test(hash));
  if (!found) { location.hash = '#/jobs'; return; }
  const [pattern, nav, load] = found;
  for (const link of document.querySelectorAll('[data-nav]')) {
    if (link.dataset.nav === nav) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  try {
    const page = await load();
    if (seq !== renderSeq) return;
    mount(main);
    const params = hash.match(pattern).slice(1);
    const result = page.render(main, { user: session.user, params });
    cleanup = typeof result === 'function' ? result : null;
    main.querySelector('h1')?.focus();
  } catch (error) {
    mount(main, failure(error, render));
  }
}

document.getElementById('signout').addEventListener('click', async () => {
  try {
    await api('POST', '/auth/logout', undefined, { quiet401: true });
  } catch (error) {
    if (error.status !== 401) toast(error.message, 'error');
  }
  sessionStorage.removeItem('cosmicac.after');
  signedOut('You signed out.');
  location.hash = '#/login';
});

window.addEventListener('hashchange', render);

async function start() {
  try {
    session.user = await api('GET', '/auth/me', undefined, { quiet401: true });
    showShell();
    if (!location.hash || location.hash === '#/login') location.hash = '#/jobs';
    else render();
  } catch (error) {
    if (error.status === 401) {
      if (location.hash && location.hash !== '#/login') sessionStorage.setItem('cosmicac.after', location.hash);
      if (location.hash === '#/login') render(); else location.hash = '#/login';
    } else {
      mount(main, failure(error, start));
    }
  }
}

start();
