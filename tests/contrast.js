// WCAG 2.1 AA contrast from computed styles (see tests/contrast.py). Returns failures.
() => {
  const parse = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const over = (top, under) => ({
    r: top.r * top.a + under.r * (1 - top.a), g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a), a: 1 });
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  // The colour behind an element: its own background over its ancestors', or null.
  const behind = (el) => {
    const stack = [];
    for (let e = el; e; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (cs.backgroundImage && cs.backgroundImage !== 'none') return null;
      const c = parse(cs.backgroundColor);
      if (c && c.a > 0) { stack.push(c); if (c.a >= 1) break; }
    }
    let bg = { r: 255, g: 255, b: 255, a: 1 };
    for (let i = stack.length - 1; i >= 0; i--) bg = over(stack[i], bg);
    return bg;
  };
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    if (r.width <= 1 || r.height <= 1) return false;  // visually hidden
    for (let e = el; e; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (cs.display === 'none' || cs.visibility === 'hidden' || Number(cs.opacity) === 0) return false;
    }
    return true;
  };
  const fails = [];
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.textContent.trim()) continue;
    const el = n.parentElement;
    if (!el || seen.has(el) || !visible(el)) continue;
    seen.add(el);
    if (el.closest('[aria-hidden="true"]') && !el.closest('button')) continue;
    const cs = getComputedStyle(el);
    const fg = parse(cs.color);
    const bg = behind(el);
    if (!fg || !bg) continue;
    const size = parseFloat(cs.fontSize);
    const bold = Number(cs.fontWeight) >= 700;
    const large = size >= 24 || (bold && size >= 18.66);
    // A disabled control is exempt (WCAG 1.4.3).
    if (el.closest('button:disabled, input:disabled, [aria-disabled="true"]')) continue;
    const need = large ? 3 : 4.5;
    const r = ratio(over(fg, bg), bg);
    if (r + 0.005 < need) fails.push({ what: 'text', text: n.textContent.trim().slice(0, 24), ratio: Math.round(r * 100) / 100, need: need, fg: cs.color, bg: 'rgb(' + [bg.r, bg.g, bg.b].map(Math.round).join(',') + ')', cls: el.className || el.tagName });
  }
  // Controls: the boundary (border, or own fill) must stand out 3:1 from what is behind.
  const controls = document.querySelectorAll('input:not([type=hidden]), select, textarea, button, [role="radio"], [role="checkbox"]');
  for (const input of controls) {
    if (input.disabled) continue;
    // A visually hidden radio or checkbox is drawn by its label: check the label.
    let el = input;
    const box = input.getBoundingClientRect();
    if ((box.width <= 1 || box.height <= 1 || getComputedStyle(input).opacity === '0') && input.labels && input.labels[0]) el = input.labels[0];
    if (!visible(el)) continue;
    const cs = getComputedStyle(el);
    // A native checkbox or radio is drawn by Chromium itself (#767676 edge: 4.5:1 on white).
    if (el === input && /^(checkbox|radio)$/.test(input.type) && cs.appearance !== 'none') continue;
    const outside = el.parentElement ? behind(el.parentElement) : null;
    if (!outside) continue;
    const fill = parse(cs.backgroundColor);
    const own = fill && fill.a > 0 ? over(fill, outside) : outside;
    const border = parseFloat(cs.borderTopWidth) >= 1 ? parse(cs.borderTopColor) : null;
    const candidates = [ratio(own, outside)];
    if (border && border.a > 0) candidates.push(ratio(over(border, outside), outside));
    // A control drawn only by its text or icon (a link-like button) counts by that.
    const ink = parse(cs.color);
    if (ink && (el.tagName === 'BUTTON' || el.tagName === 'LABEL' || el.getAttribute('role'))) candidates.push(ratio(over(ink, own), own));
    const best = Math.max(...candidates);
    if (best + 0.005 < 3) fails.push({ what: 'control', text: (el.getAttribute('aria-label') || el.textContent || el.name || el.type || '').trim().slice(0, 24), ratio: Math.round(best * 100) / 100, need: 3, fg: cs.borderTopColor, bg: cs.backgroundColor, cls: el.className || el.tagName });
  }
  return fails;
}
