// The worker's socket (docs/PROTOCOL.md, js/connection.js) and what its state shows: a
// slim banner while reconnecting that goes away by itself, the sign-in again after 4401.

import { $, byTestId, setText, show, hide } from '../dom.js';
import { t } from '../i18n.js';
import { Connection } from '../connection.js';
import { S, KEY, store, go } from './state.js';
import { renderReady } from './ready.js';
import { outbox } from './chat.js';
import { onFrame } from './frames.js';

export function onConnState(state) {
  const banner = byTestId('reconnect-banner');
  if (state === 'ready') {
    clearTimeout(S.bannerTimer);
    if (S.bannerShown) {
      setText(banner, t('w.banner.back'));
      banner.className = 'banner banner-ok';
      S.bannerTimer = setTimeout(() => { hide(banner); S.bannerShown = false; }, 2000);
    } else {
      hide(banner);
    }
    if (S.screen === 'ready') renderReady();
    byTestId('request-chat').disabled = false;
    return;
  }
  if (state === 'unauthorized') {
    hide(banner);
    S.signedIn = false;
    S.conv = null;
    store.del(KEY.conv);
    outbox.keep(() => false);
    const n = $('#signin-notice');
    setText(n, t('w.signin.expired'));
    show(n);
    go(store.get(KEY.consent, false) ? 'signin' : 'consent');
    return;
  }
  if (state === 'reconnecting' || state === 'offline') {
    byTestId('request-chat').disabled = true;
    const text = state === 'offline' || navigator.onLine === false ? t('w.banner.offline') : t('w.banner.reconnecting');
    clearTimeout(S.bannerTimer);
    if (S.bannerShown) {
      setText(banner, text);
      banner.className = 'banner' + (state === 'offline' ? ' banner-offline' : '');
    } else {
      // Don't flash a banner for a blip shorter than a second and a half.
      S.bannerTimer = setTimeout(() => {
        setText(banner, text);
        banner.className = 'banner' + (state === 'offline' ? ' banner-offline' : '');
        show(banner);
        S.bannerShown = true;
      }, 1500);
    }
  }
}

export function startSocket() {
  if (S.conn) return;
  S.conn = new Connection('/ws/worker', { onFrame: onFrame, onState: onConnState });
  S.conn.start();
}
