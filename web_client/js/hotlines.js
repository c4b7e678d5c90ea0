// Crisis resources that must show even when the server is down or nobody is on duty.
// /api/status `hotlines` is preferred when it is available.

export const FALLBACK_HOTLINES = [
  { name: '全国心理援助热线', name_en: 'National psychological assistance hotline', phone: '12356', hours: '24小时', hours_en: '24 hours' },
  { name: '北京心理危机研究与干预中心', name_en: 'Beijing Psychological Crisis Research and Intervention Center', phone: '010-82951332', hours: '24小时', hours_en: '24 hours' },
  { name: '北京心理危机研究与干预中心（座机免费）', name_en: 'Beijing Crisis Center (free from landlines)', phone: '800-810-1117', hours: '24小时', hours_en: '24 hours' },
  { name: '急救', name_en: 'Ambulance', phone: '120', hours: '24小时', hours_en: '24 hours', emergency: true },
  { name: '报警', name_en: 'Police', phone: '110', hours: '24小时', hours_en: '24 hours', emergency: true },
];

let current = FALLBACK_HOTLINES.slice();

/** Merge the server's list with the emergency numbers (120 / 110 are always shown). */
export function setServerHotlines(list) {
  if (!Array.isArray(list) || !list.length) return;
  const clean = list
    .filter((x) => x && typeof x.phone === 'string' && x.phone.trim())
    .map((x) => ({ name: String(x.name || ''), phone: String(x.phone), hours: x.hours ? String(x.hours) : '' }));
  if (!clean.length) return;
  const seen = new Set(clean.map((x) => x.phone.replace(/\D/g, '')));
  for (const f of FALLBACK_HOTLINES) {
    if (f.emergency && !seen.has(f.phone)) clean.push(f);
  }
  current = clean;
}

export function getHotlines() {
  return current;
}
