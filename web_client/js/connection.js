// One WebSocket per page, with the reconnect procedure from docs/PROTOCOL.md:
// backoff 1, 2, 4, 8, 15 s (with jitter; at once after 1012, a node stopping), ping every
// 20 s. The server's first frame is `welcome`; the page then sends `sync` for each open
// conversation with the last seq it displayed (nothing of those is sent before) and
// resends its unacknowledged outbox in order.
//
// States: 'connecting' (first attempt), 'open' (socket up, waiting for welcome),
// 'ready' (welcome received), 'reconnecting', 'offline' (navigator says so),
// 'unauthorized' (closed with 4401, stop), 'stopped'.

const PING_EVERY_MS = 20000;
const PONG_GRACE_MS = 8000;        // a ping that gets no answer in this time = dead socket
const SILENCE_LIMIT_MS = 50000;    // nothing at all heard for this long = dead socket
const BACKOFF_S = [1, 2, 4, 8, 15];

export function wsUrl(path) {
  const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
  return scheme + location.host + path;
}

export class Connection {
  /**
   * @param {string} path  '/ws/worker' or '/ws/staff'
   * @param {{onFrame: function(object), onState?: function(string, object)}} handlers
   */
  constructor(path, handlers) {
    this.path = path;
    this.onFrame = handlers.onFrame;
    this.onState = handlers.onState || function () {};
    this.ws = null;
    this.state = 'idle';
    this.attempt = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.lastHeard = 0;
    this.stopped = false;
    this.everReady = false;
    this.refCounter = 0;

    this._onOnline = () => {
      if (this.stopped) return;
      this.attempt = 0;
      // The old socket may look open but the network under it changed: start afresh, so
      // the welcome → sync → resend procedure runs and nothing typed offline is stranded.
      this.reconnectNow();
    };
    this._onOffline = () => { if (!this.stopped) this._setState('offline'); };
    this._onVisible = () => {
      if (this.stopped || document.visibilityState !== 'visible') return;
      // After a screen lock the socket is often silently dead: check it at once.
      if (!this.ws || this.ws.readyState > 1) this._connectSoon(0);
      else this._probe();
    };
    window.addEventListener('online', this._onOnline);
    window.addEventListener('offline', this._onOffline);
    document.addEventListener('visibilitychange', this._onVisible);
    window.addEventListener('pageshow', this._onVisible);
  }

  start() {
    this.stopped = false;
    this._connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this._stopPing();
    window.removeEventListener('online', this._onOnline);
    window.removeEventListener('offline', this._onOffline);
    document.removeEventListener('visibilitychange', this._onVisible);
    window.removeEventListener('pageshow', this._onVisible);
    if (this.ws) {
      try { this.ws.close(1000); } catch (e) { /* ignore */ }
    }
    this.ws = null;
    this._setState('stopped');
  }

  isReady() {
    return this.state === 'ready' && this.ws && this.ws.readyState === 1;
  }

  nextRef() {
    this.refCounter += 1;
    return 'r' + this.refCounter;
  }

  /** Send a frame. Returns false if the socket is not open (caller keeps it for later). */
  send(frame) {
    if (!this.ws || this.ws.readyState !== 1) return false;
    try {
      this.ws.send(JSON.stringify(frame));
      return true;
    } catch (e) {
      return false;
    }
  }

  /** Drop the socket and connect again now (e.g. to get a fresh `welcome`). */
  reconnectNow() {
    if (this.stopped) return;
    if (this.ws) this._kill();
    else this._connectSoon(0);
  }

  _setState(state, extra) {
    if (this.state === state && !extra) return;
    this.state = state;
    try { this.onState(state, extra || {}); } catch (e) { console.error(e); }
  }

  _connectSoon(delayMs) {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this._connect(), delayMs);
  }

  _connect() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    if (this.ws && this.ws.readyState <= 1) return;
    this._setState(this.everReady ? 'reconnecting' : 'connecting');
    let ws;
    try {
      ws = new WebSocket(wsUrl(this.path));
    } catch (e) {
      this._scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.lastHeard = Date.now();
      this._setState('open');
      this._startPing();
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      this.lastHeard = Date.now();
      clearTimeout(this.pongTimer);
      let frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      if (!frame || typeof frame !== 'object') return;
      if (frame.type === 'welcome') {
        this.attempt = 0;
        const first = !this.everReady;
        this.everReady = true;
        this._setState('ready', { first: first });
      }
      if (frame.type === 'pong') return;
      try { this.onFrame(frame); } catch (e) { console.error(e); }
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this._stopPing();
      this.ws = null;
      if (this.stopped) return;
      if (ev.code === 4401) {
        this.stopped = true;
        this._setState('unauthorized', { code: ev.code });
        return;
      }
      if (ev.code === 4429) this.attempt = Math.max(this.attempt, BACKOFF_S.length - 1);
      if (ev.code === 1012) {
        // The node is stopping on purpose and answered everything first: another node
        // takes us at once (a little jitter so its sockets do not all arrive together).
        this._setState('reconnecting', { retryInS: 0 });
        this._connectSoon(Math.round(Math.random() * 500));
        return;
      }
      this._scheduleRetry();
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  _scheduleRetry() {
    if (this.stopped) return;
    const base = BACKOFF_S[Math.min(this.attempt, BACKOFF_S.length - 1)];
    this.attempt += 1;
    const jitter = base * (0.7 + Math.random() * 0.6); // ±30 %
    this._setState(navigator.onLine === false ? 'offline' : 'reconnecting', { retryInS: Math.round(jitter) });
    this._connectSoon(Math.round(jitter * 1000));
  }

  _startPing() {
    this._stopPing();
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastHeard > SILENCE_LIMIT_MS) {
        this._kill();
        return;
      }
      this.send({ type: 'ping' });
    }, PING_EVERY_MS);
  }

  _stopPing() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.pingTimer = null;
  }

  /** Ping now; if nothing comes back soon, the socket is dead: drop it and reconnect. */
  _probe() {
    if (!this.ws || this.ws.readyState !== 1) return;
    this.send({ type: 'ping' });
    clearTimeout(this.pongTimer);
    this.pongTimer = setTimeout(() => this._kill(), PONG_GRACE_MS);
  }

  _kill() {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    this._stopPing();
    try { ws.close(4000); } catch (e) { /* ignore */ }
    this.attempt = 0;
    this._scheduleRetry();
  }
}
