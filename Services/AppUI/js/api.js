// The /api/v1 client: JSON in and out, the session cookie (HttpOnly, set by app-node) sent by the
// browser, and one place that notices an expired or ended session (any 401).

/** An error answer of the API (`{"error":{"code","message"}}`) or a network failure. */
export class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let unauthenticated = () => {};

/** Sets what happens when a call answers 401 (the session expired or was ended elsewhere). */
export function onUnauthenticated(handler) { unauthenticated = handler; }

/** Calls `method path` under /api/v1 with an optional JSON body; resolves to the parsed answer. */
export async function api(method, path, body, options = {}) {
  const headers = { Accept: 'application/json', ...(options.headers || {}) };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch('/api/v1' + path, {
      method, headers, credentials: 'same-origin', signal: options.signal,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new APIError(0, 'network', 'The server cannot be reached. Check your connection and try again.');
  }
  const text = response.status === 204 ? '' : await response.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch { data = null; } }
  if (!response.ok) {
    const error = new APIError(
      response.status, data?.error?.code ?? `http_${response.status}`,
      data?.error?.message ?? `The server answered ${response.status} ${response.statusText}`);
    if (response.status === 401 && !options.quiet401) unauthenticated(error);
    if (response.status === 429) {
      error.message = `Too many requests; try again in ${response.headers.get('Retry-After') || 'a few'} s.`;
    }
    throw error;
  }
  return data;
}

/** Query string of the defined values of `params`. */
export function query(params) {
  const parts = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== '');
  return parts.length ? '?' + new URLSearchParams(parts).toString() : '';
}

/**
 * Follows `/api/v1/jobs/stream` (server-sent events `job`, each a JobChange) and calls `onChange`.
 * EventSource reconnects by itself; when it gives up (401 after the session ended), `onClosed` runs.
 * Returns a function that stops following.
 */
export function watchJobs(onChange, onClosed = () => {}, onOpen = () => {}) {
  const source = new EventSource('/api/v1/jobs/stream');
  source.addEventListener('job', (event) => {
    try { onChange(JSON.parse(event.data)); } catch { /* a malformed event is skipped */ }
  });
  source.addEventListener('open', () => onOpen(true));
  source.addEventListener('error', () => {
    onOpen(false);
    if (source.readyState === EventSource.CLOSED) onClosed();
  });
  return () => source.close();
}

/**
 * A streamed chat completion through caddy's /inference prefix (proxy-inference's OpenAI API).
 * Calls `onDelta(text)` for every content piece; resolves to {text, pieces, usage}.
 */
export async function streamChat({ apiKey, model, messages, maxTokens, signal, onDelta }) {
  const headers = { 'Content-Type': 'application/json', Accept: 'text/event-stream' };
  if (apiKey) headers.Authorization = 'Bearer ' + apiKey;
  const body = { model, messages, stream: true };
  if (maxTokens) body.max_tokens = maxTokens;
  const response = await fetch('/inference/v1/chat/completions', {
    method: 'POST', headers, body: JSON.stringify(body), signal, credentials: 'omit',
  });
  if (!response.ok) {
    let message = `The endpoint answered ${response.status}`;
    try { message = (await response.json())?.error?.message || message; } catch { /* keep the status */ }
    throw new APIError(response.status, 'inference', message);
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let text = '';
  let pieces = 0;
  let usage = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      for (const line of block.split('\n')) {
        if (!line.startsWith('data:')) continue;
        const data = line.slice(5).trim();
        if (data === '[DONE]') continue;
        let chunk;
        try { chunk = JSON.parse(data); } catch { continue; }
        if (chunk.error) throw new APIError(500, 'inference', chunk.error.message || 'the stream failed');
        if (chunk.usage) usage = chunk.usage;
        const delta = chunk.choices?.[0]?.delta?.content;
        if (delta) {
          text += delta;
          pieces += 1;
          onDelta(delta, pieces);
        }
      }
    }
  }
  return { text, pieces, usage };
}
