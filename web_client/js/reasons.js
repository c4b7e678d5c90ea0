// A reason id (a rule that matched, the screen, a counselor's flag) as staff read it.
// A reason id without a label (a rule added since) shows as "other grounds", never as a
// raw id; tests/crisis/test_crisis_strings.py keeps every reason id labelled in both languages.

import { t } from './i18n.js';
import './strings-crisis.js';

export function reasonLabel(r) {
  const key = 'v.reason.' + r;
  const s = t(key);
  return s === key ? t('v.reason.other') : s;
}

export function reasonsText(reasons) {
  return (reasons || []).map(reasonLabel).join('、');
}
