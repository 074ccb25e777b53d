import type { ContentRecord } from '../../ports/persistence.js';

// Server-rendered pages: they work in any browser without JavaScript (R1, seed 001 ¶0038).

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export const PAGE_SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const;

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
table{border-collapse:collapse;width:100%}td,th{padding:.5rem;border-bottom:1px solid #ddd;text-align:left}
button{font:inherit;padding:.3rem .9rem;cursor:pointer}.muted{color:#666;font-size:.9em}`;

export function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body>${body}</body></html>`;
}

export function renderCatalogPage(items: readonly ContentRecord[]): string {
  const rows = items
    .map(
      (c) => `<tr><td>${escapeHtml(c.title)}<div class="muted">${escapeHtml(c.fileName)} · ${escapeHtml(c.mimeType)}</div></td>
<td>${formatBytes(c.size)}</td>
<td><form method="post" action="/orders"><input type="hidden" name="contentId" value="${c.id}"><button type="submit">Order</button></form></td></tr>`,
    )
    .join('\n');
  const table = items.length
    ? `<table><thead><tr><th>Item</th><th>Size</th><th></th></tr></thead><tbody>${rows}</tbody></table>`
    : '<p>The catalogue is empty. Add an item with <code>tessera content add FILE</code>.</p>';
  return layout(
    'Tessera — catalogue',
    `<h1>Catalogue</h1><p class="muted">Ordering gives you a single-use download link, valid for a short time, on the least-loaded content server.</p>${table}`,
  );
}

function clock(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

export type WaitingPage =
  | { readonly kind: 'waiting'; readonly wait: { orderId: string; position: number; lineLength: number; estimatedWaitMs: number; retryAt: number; at: number } }
  | { readonly kind: 'admitted'; readonly ticketUrl: string; readonly title: string }
  | { readonly kind: 'refused'; readonly code: string; readonly message: string };

/** The waiting page. Without JavaScript a meta refresh brings the browser back; with it, waiting.js does better. */
export function renderWaitingPage(page: WaitingPage): string {
  if (page.kind === 'admitted') {
    const url = escapeHtml(page.ticketUrl);
    return layoutWithHead(
      'Tessera — your turn',
      `<noscript><meta http-equiv="refresh" content="0;url=${url}"></noscript><script src="/assets/waiting.js" defer></script>`,
      `<h1>It is your turn</h1>
<p id="status">Your download of <strong>${escapeHtml(page.title)}</strong> starts now. If it does not, <a id="ticket" href="${url}" rel="noreferrer">start it here</a>.</p>`,
    );
  }
  if (page.kind === 'refused') {
    const lost = page.code === 'queue-place-lost';
    return layout(
      'Tessera — no place in line',
      `<h1>${lost ? 'Your place in line has lapsed' : 'This place in line is not valid'}</h1>
<p>${escapeHtml(page.message)} <span class="muted">(${escapeHtml(page.code)})</span></p>
<p><a href="/">Back to the catalogue</a> to order again.</p>`,
    );
  }
  const w = page.wait;
  const retryS = Math.max(1, Math.ceil((w.retryAt - w.at) / 1000));
  return layoutWithHead(
    'Tessera — waiting in line',
    `<noscript><meta http-equiv="refresh" content="${retryS}"></noscript><script src="/assets/waiting.js" defer></script>`,
    `<h1>Every content server is busy</h1>
<div id="waiting" data-order="${w.orderId}" data-wait-ms="${Math.round(w.estimatedWaitMs)}" data-retry-ms="${Math.round(w.retryAt - w.at)}">
<p>You are number <strong id="position">${w.position}</strong> in line <span class="muted">(of <span id="line-length">${w.lineLength}</span>)</span>.</p>
<p>Estimated wait: <strong id="countdown">${clock(w.estimatedWaitMs / 1000)}</strong></p>
<p id="status" class="muted">This page checks again by itself and starts your download when it is your turn. Refreshing it keeps your place.</p>
<p><button type="button" id="sound" hidden>Play a sound when it is my turn</button></p>
</div>`,
  );
}

function layoutWithHead(title: string, head: string, body: string): string {
  return layout(title, body).replace('</title>', `</title>${head}`);
}

/** The waiting page's script (served from /assets/waiting.js so the CSP needs no inline script). */
export const WAITING_SCRIPT = `'use strict';
(function () {
  var audio = null;
  function audioContext() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    if (!audio) audio = new Ctx();
    return audio;
  }
  function chime() {
    var ctx = audioContext();
    if (!ctx) return;
    if (ctx.state === 'suspended' && ctx.resume) ctx.resume();
    var gain = ctx.createGain();
    gain.gain.value = 0.2;
    gain.connect(ctx.destination);
    [880, 1320].forEach(function (hz, i) {
      var osc = ctx.createOscillator();
      osc.type = 'sine';
      osc.frequency.value = hz;
      osc.connect(gain);
      osc.start(ctx.currentTime + i * 0.18);
      osc.stop(ctx.currentTime + i * 0.18 + 0.16);
    });
  }
  function say(text) {
    var status = document.getElementById('status');
    if (status) status.textContent = text;
  }
  function admitted(url) {
    document.title = 'Your turn — Tessera';
    say('It is your turn: your download is starting.');
    chime();
    setTimeout(function () { window.location.href = url; }, 700);
  }
  function clock(seconds) {
    var s = Math.max(0, Math.ceil(seconds));
    var m = Math.floor(s / 60), r = String(s % 60);
    return m + ':' + (r.length < 2 ? '0' + r : r);
  }

  var ticket = document.getElementById('ticket');
  if (ticket) { admitted(ticket.href); return; }
  var root = document.getElementById('waiting');
  if (!root) return;
  var orderId = root.getAttribute('data-order');
  var admitAt = Date.now() + Number(root.getAttribute('data-wait-ms'));
  var sound = document.getElementById('sound');
  if (sound) {
    var ctx = audioContext();
    // Browsers only let a page make sound after a click; offer one when they say so.
    if (ctx && ctx.state === 'suspended') {
      sound.hidden = false;
      sound.addEventListener('click', function () { ctx.resume(); sound.hidden = true; });
    }
  }
  setInterval(function () {
    var el = document.getElementById('countdown');
    if (el) el.textContent = clock((admitAt - Date.now()) / 1000);
  }, 1000);

  function check() {
    fetch('/queue/' + orderId + '/status?wait=20', { credentials: 'same-origin', cache: 'no-store' })
      .then(function (res) { return res.json().then(function (body) { return { ok: res.ok, body: body }; }); })
      .then(function (r) {
        if (r.ok && r.body.state === 'admitted') return admitted(r.body.ticketUrl);
        if (r.ok && r.body.state === 'waiting') {
          document.getElementById('position').textContent = r.body.position;
          document.getElementById('line-length').textContent = r.body.lineLength;
          admitAt = Date.now() + r.body.estimated_wait_s * 1000;
          setTimeout(check, Math.max(0, r.body.retryAfterS * 1000));
          return;
        }
        say((r.body && (r.body.detail || r.body.title)) || 'Your place in line is no longer valid.');
      })
      .catch(function () { setTimeout(check, 3000); });
  }
  setTimeout(check, Math.max(0, Number(root.getAttribute('data-retry-ms'))));
})();
`;
