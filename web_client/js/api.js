// fetch JSON with application/problem+json errors.

export class ApiError extends Error {
  constructor(status, problem) {
    const p = problem || {};
    super(p.detail || p.title || ('HTTP ' + status));
    this.name = 'ApiError';
    this.status = status;          // 0 for network errors and timeouts
    this.code = p.code || (status === 0 ? 'network' : 'http_' + status);
    this.field = p.field || null;
    this.reason = p.reason || null;
    this.retryAfter = p.retry_after || null;
    this.problem = p;
  }
}

const DEFAULT_TIMEOUT_MS = 12000;

/**
 * api('/api/status') ; api('/api/worker/session', {method: 'POST', body: {...}})
 * Resolves to parsed JSON (or null for 204 / empty), rejects with ApiError.
 */
export async function api(path, options) {
  const opts = options || {};
  const init = {
    method: opts.method || 'GET',
    credentials: 'same-origin',
    headers: { Accept: 'application/json, application/problem+json' },
    cache: 'no-store',
  };
  if (opts.body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(opts.body);
  }
  if (opts.keepalive) init.keepalive = true;
  let timer = null;
  if (typeof AbortController === 'function') {
    const ctrl = new AbortController();
    init.signal = ctrl.signal;
    timer = setTimeout(() => ctrl.abort(), opts.timeout || DEFAULT_TIMEOUT_MS);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, { code: 'network', detail: String(err && err.message) });
  } finally {
    if (timer) clearTimeout(timer);
  }
  let data = null;
  const text = await res.text().catch(() => '');
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = null; }
  }
  if (!res.ok) {
    const problem = data && typeof data === 'object' ? data : {};
    if (!problem.retry_after) {
      const ra = parseInt(res.headers.get('Retry-After') || '', 10);
      if (ra > 0) problem.retry_after = ra;
    }
    throw new ApiError(res.status, problem);
  }
  return data;
}

/**
 * Fire-and-forget POST that survives page unload (quick exit).
 * fetch keepalive first, sendBeacon as fallback.
 */
export function beacon(path, body) {
  const payload = JSON.stringify(body || {});
  try {
    if (typeof Request === 'function' && 'keepalive' in Request.prototype) {
      fetch(path, {
        method: 'POST', credentials: 'same-origin', keepalive: true,
        headers: { 'Content-Type': 'application/json' }, body: payload,
      }).catch(() => {});
      return true;
    }
  } catch (e) { /* fall through */ }
  try {
    if (navigator.sendBeacon) {
      return navigator.sendBeacon(path, new Blob([payload], { type: 'application/json' }));
    }
  } catch (e) { /* fall through */ }
  try {
    fetch(path, { method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body: payload }).catch(() => {});
  } catch (e) { /* nothing more we can do */ }
  return false;
}
