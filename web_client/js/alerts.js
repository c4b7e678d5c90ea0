// Alerts that reach a counselor or supervisor who is looking elsewhere (issue 21): a
// chime, a desktop notification and a count in the page title. Browsers let a page play
// sound only after a click and show notifications only with permission: both states are
// shown, never guessed.

import { h, setText, show } from './dom.js';
import { t } from './i18n.js';

export class Alerts {
  /**
   * key: localStorage key of the sound preference; title: () => the page's own title;
   * soundButton / hint: existing elements to use (else they are made by mount()).
   */
  constructor({ key, title, soundButton, hint }) {
    this.key = key;
    this.title = title;
    this.soundButton = soundButton || null;
    this.hint = hint || null;
    this.ctx = null;            // AudioContext, made at the first gesture or chime
    this.gesture = false;       // the page has had a click or key press
    this.count = 0;             // what the title shows: things not yet seen
    this.urgent = false;        // an escalation waits: the title says (!)
    this.ask = null;            // the "turn on notifications" strip
    this.sound = this.readSound();
    this.lastChime = 0;
  }

  readSound() {
    // On by default: a chime is the point; a stored "off" is a choice that is kept.
    try { return localStorage.getItem(this.key) !== '0'; } catch (e) { return true; }
  }

  /** 'on', 'off', or 'blocked' (on, but the browser has not let sound play yet). */
  soundState() {
    if (!this.sound) return 'off';
    if (!this.ctx || this.ctx.state !== 'running') return 'blocked';
    return 'on';
  }

  mount(where) {
    if (!this.soundButton) {
      this.soundButton = h('button', { type: 'button', class: 'btn btn-secondary btn-small sound-toggle', testid: 'sound-toggle', 'aria-pressed': 'false' });
      where.prepend(this.soundButton);
    }
    this.soundButton.addEventListener('click', () => {
      // Blocked: this click is the gesture that unblocks it; keep the sound on.
      if (this.soundState() !== 'blocked') this.sound = !this.sound;
      try { localStorage.setItem(this.key, this.sound ? '1' : '0'); } catch (e) { /* ignore */ }
      this.unlock();
      if (this.sound) this.chime(false);
      this.render();
    });
    const unlock = () => { this.gesture = true; this.unlock(); };
    document.addEventListener('pointerdown', unlock, true);
    document.addEventListener('keydown', unlock, true);
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') { this.count = 0; this.renderTitle(); }
    });
    this.render();
  }

  unlock() {
    if (!this.sound) return;
    try {
      this.ctx = this.ctx || new (window.AudioContext || window.webkitAudioContext)();
      if (this.ctx.state === 'suspended') this.ctx.resume().then(() => this.render(), () => this.render());
    } catch (e) { /* no audio at all: the state stays "blocked" and says so */ }
    this.render();
  }

  render() {
    const b = this.soundButton;
    if (!b) return;
    const state = this.soundState();
    b.setAttribute('data-state', state);
    b.setAttribute('aria-pressed', state === 'off' ? 'false' : 'true');
    b.classList.toggle('is-on', state === 'on');
    b.classList.toggle('is-blocked', state === 'blocked');
    setText(b, t('al.sound.' + state));
    if (this.hint) show(this.hint, state !== 'on');
    if (this.hint) setText(this.hint, t(state === 'off' ? 'al.sound.hint_off' : 'al.sound.hint_blocked'));
  }

  /** A soft two-tone chime (four tones when urgent). */
  chime(urgent) {
    this.lastChime = Date.now();
    if (!this.sound) return;
    try {
      this.ctx = this.ctx || new (window.AudioContext || window.webkitAudioContext)();
      if (this.ctx.state === 'suspended') this.ctx.resume().then(() => this.render(), () => this.render());
      const ctx = this.ctx;
      const now = ctx.currentTime;
      const tones = urgent ? [880, 660, 880, 660] : [880, 660];
      tones.forEach((freq, i) => {
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        osc.type = 'sine';
        osc.frequency.value = freq;
        gain.gain.setValueAtTime(0.0001, now + i * 0.25);
        gain.gain.exponentialRampToValueAtTime(0.2, now + i * 0.25 + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.25 + 0.4);
        osc.connect(gain).connect(ctx.destination);
        osc.start(now + i * 0.25);
        osc.stop(now + i * 0.25 + 0.45);
      });
    } catch (e) { /* no audio: the title and the notification still say it */ }
    this.render();
  }

  /** A desktop notification, when allowed, if the page is hidden (or `always`). */
  notify(title, body, tag, always) {
    if (!('Notification' in window) || Notification.permission !== 'granted') return;
    if (!always && document.visibilityState === 'visible') return;
    try {
      // No message text ever: the notification may show on a shared screen.
      const n = new Notification(title, { body: body || '', tag: tag || undefined, lang: document.documentElement.lang || 'zh-CN' });
      n.onclick = () => { window.focus(); n.close(); };
    } catch (e) { /* some browsers allow notifications only from a service worker */ }
  }

  /** Something new arrived: chime, notify if hidden, and count it in the title if hidden. */
  alert({ title, body, tag, urgent, always }) {
    this.chime(!!urgent);
    this.notify(title, body, tag, !!always);
    if (document.visibilityState !== 'visible') this.count += 1;
    if (urgent) this.urgent = true;
    this.renderTitle();
  }

  /** The title: "(3) 驿站 · …" while things wait unseen, "(!)" while an escalation is open. */
  setUrgent(on) { this.urgent = !!on; this.renderTitle(); }

  setCount(n) { this.count = Math.max(0, n | 0); this.renderTitle(); }

  renderTitle() {
    const base = this.title();
    document.title = (this.urgent ? '(!) ' : '') + (this.count > 0 ? '(' + this.count + ') ' : '') + base;
  }

  /** After sign-in: explain, then ask (a click asks, as browsers require a gesture). */
  offerNotifications(where) {
    if (!('Notification' in window)) return;
    if (this.ask) this.ask.remove();
    const state = Notification.permission;
    if (state === 'granted') { this.ask = null; return; }
    const text = h('span', { class: 'notify-text', text: t(state === 'denied' ? 'al.notify.denied' : 'al.notify.why') });
    const yes = state === 'default' ? h('button', {
      type: 'button', class: 'btn btn-primary btn-small', testid: 'notify-allow', text: t('al.notify.allow'),
      on: { click: async () => {
        try { await Notification.requestPermission(); } catch (e) { /* older API: ignore */ }
        this.offerNotifications(where);
      } },
    }) : null;
    const later = h('button', { type: 'button', class: 'btn btn-quiet btn-small', testid: 'notify-later', text: t('al.notify.later'), on: { click: () => { this.ask.remove(); this.ask = null; } } });
    this.ask = h('div', { class: 'notify-ask', role: 'region', 'aria-label': t('al.notify.label'), testid: 'notify-ask', data: { permission: state } }, text, yes, later);
    where.after(this.ask);
  }
}
