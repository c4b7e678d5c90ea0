// Small DOM helpers. Text typed by people is ALWAYS set with textContent:
// nothing in this project ever assigns innerHTML.

export function $(selector, root) {
  return (root || document).querySelector(selector);
}

export function $$(selector, root) {
  return Array.prototype.slice.call((root || document).querySelectorAll(selector));
}

export function byTestId(id, root) {
  return $('[data-testid="' + id + '"]', root);
}

/**
 * h('button', {class: 'btn', type: 'button', testid: 'x', on: {click: fn}}, 'text', child)
 * - strings and numbers become text nodes (never parsed as HTML)
 * - attrs.text sets textContent, attrs.data sets data-* attributes
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const key of Object.keys(attrs)) {
      const value = attrs[key];
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') el.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
      else if (key === 'text') el.textContent = String(value);
      else if (key === 'testid') el.setAttribute('data-testid', value);
      else if (key === 'data') {
        for (const d of Object.keys(value)) {
          if (value[d] !== undefined && value[d] !== null) el.setAttribute('data-' + d, String(value[d]));
        }
      } else if (key === 'on') {
        for (const ev of Object.keys(value)) el.addEventListener(ev, value[ev]);
      } else if (key === 'style' || key === 'innerHTML' || key.slice(0, 2) === 'on') {
        throw new Error('dom.h: ' + key + ' is not allowed');
      } else if (value === true) el.setAttribute(key, '');
      else el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (typeof child === 'string' || typeof child === 'number') el.appendChild(document.createTextNode(String(child)));
    else el.appendChild(child);
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function setText(el, text) {
  if (el) el.textContent = text === undefined || text === null ? '' : String(text);
  return el;
}

export function show(el, visible) {
  if (!el) return;
  if (visible === undefined || visible) el.removeAttribute('hidden');
  else el.setAttribute('hidden', '');
}

export function hide(el) {
  show(el, false);
}

/** Phone number -> tel: URI (digits and + only). */
export function telHref(phone) {
  return 'tel:' + String(phone).replace(/[^0-9+]/g, '');
}

/**
 * A minimal accessible modal (no <dialog>: older WeChat X5 kernels lack it).
 * The element must have role="dialog" aria-modal="true" and be [hidden] initially.
 */
let openModal = null;
let lastFocus = null;

export function openDialog(el) {
  if (openModal && openModal !== el) closeDialog(openModal);
  lastFocus = document.activeElement;
  openModal = el;
  show(el);
  document.body.classList.add('has-modal');
  const focusable = el.querySelector('[data-autofocus]') || el.querySelector('button, a[href], input, textarea, select');
  if (focusable) focusable.focus();
}

export function closeDialog(el) {
  const target = el || openModal;
  if (!target) return;
  hide(target);
  if (openModal === target) openModal = null;
  document.body.classList.remove('has-modal');
  if (lastFocus && typeof lastFocus.focus === 'function' && document.contains(lastFocus)) lastFocus.focus();
  lastFocus = null;
}

document.addEventListener('keydown', (ev) => {
  if (!openModal) return;
  if (ev.key === 'Escape') {
    ev.preventDefault();
    closeDialog(openModal);
    return;
  }
  if (ev.key === 'Tab') {
    const items = $$('button:not([disabled]), a[href], input:not([disabled]), textarea:not([disabled]), select:not([disabled])', openModal)
      .filter((n) => n.offsetParent !== null);
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    if (ev.shiftKey && document.activeElement === first) { ev.preventDefault(); last.focus(); }
    else if (!ev.shiftKey && document.activeElement === last) { ev.preventDefault(); first.focus(); }
  }
});

document.addEventListener('click', (ev) => {
  const t = ev.target;
  if (!(t instanceof Element)) return;
  const closer = t.closest('[data-close-dialog]');
  if (closer) {
    const dlg = closer.closest('[role="dialog"], [role="alertdialog"]');
    closeDialog(dlg || openModal);
  } else if (openModal && t === openModal) {
    closeDialog(openModal); // click on the backdrop
  }
});

/** A unique-enough client id for idempotent sends: letters, digits, - only. */
export function newClientId(prefix) {
  let rand = '';
  if (window.crypto && window.crypto.getRandomValues) {
    const buf = new Uint8Array(8);
    window.crypto.getRandomValues(buf);
    for (const b of buf) rand += ('0' + b.toString(16)).slice(-2);
  } else {
    rand = Math.random().toString(16).slice(2) + Math.random().toString(16).slice(2);
  }
  return (prefix || 'c') + '-' + Date.now().toString(36) + '-' + rand.slice(0, 16);
}
