// Does Chinese render as glyphs or as missing-glyph boxes ("tofu")? Each character is drawn
// on a canvas in the page's own font stack; the bitmaps of different characters must differ
// from each other and from the box drawn for a code point no font has (see test_browser_glyphs).
(family) => {
  const canvas = document.createElement('canvas');
  canvas.width = 64; canvas.height = 64;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const draw = (ch) => {
    ctx.clearRect(0, 0, 64, 64);
    ctx.fillStyle = '#000';
    ctx.font = '48px ' + family;
    ctx.textBaseline = 'top';
    ctx.fillText(ch, 4, 4);
    const alpha = ctx.getImageData(0, 0, 64, 64).data.filter((_, i) => i % 4 === 3);
    return Array.from(alpha, (a) => (a > 127 ? '1' : '0')).join('');
  };
  const chars = ['驿', '站', '心', '理', '咨', '询', '热', '线'];
  const boxes = ['\u0378', '\u0379', '\uFFFE'].map(draw);  // unassigned: drawn as .notdef
  const bitmaps = chars.map(draw);
  return {
    chars: chars.length,
    distinct: new Set(bitmaps).size,
    asBox: bitmaps.filter((b) => boxes.indexOf(b) >= 0).length,
    blank: bitmaps.filter((b) => b.indexOf('1') < 0).length,
  };
}
