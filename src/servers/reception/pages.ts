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

/** A wait as people read it, to the second below an hour ("42 s", "5 min 03 s", "1 h 05 min"); WAITING_SCRIPT counts down in the same words. */
export function formatWait(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (h > 0) return `${h} h ${String(m).padStart(2, '0')} min`;
  if (m > 0) return `${m} min ${String(rest).padStart(2, '0')} s`;
  return `${rest} s`;
}

export type WaitingPage =
  | {
      readonly kind: 'waiting';
      readonly wait: { orderId: string; position: number; lineLength: number; estimatedWaitMs: number; retryAt: number; at: number };
      /** The item's title, when the caller has it: people like to see what they wait for. */
      readonly title?: string;
    }
  | { readonly kind: 'admitted'; readonly ticketUrl: string; readonly title: string }
  | { readonly kind: 'refused'; readonly code: string; readonly message: string };

const WAITING_STYLE = `<style>[hidden]{display:none!important}
.place{display:flex;flex-wrap:wrap;gap:1rem 3rem;margin:1.5rem 0;padding:1.25rem 1.5rem;border:1px solid #d2d2d7;border-radius:.75rem;background:#f5f5f7}
.place p{margin:0}.label{display:block;color:#555;font-size:.9em}
.figure{display:block;font-size:2.25rem;font-weight:700;line-height:1.2;font-variant-numeric:tabular-nums}</style>`;

/** What the refused page says, by problem code: a delivered order is not a lost place. */
function refusal(code: string): { heading: string; next: string } {
  switch (code) {
    case 'queue-place-lost':
      return { heading: 'Your place in line has lapsed', next: '<a href="/">Back to the catalogue</a> to order again and get a new place.' };
    case 'ticket-consumed':
      return { heading: 'This order has been delivered', next: '<a href="/">Back to the catalogue</a> to order it again.' };
    case 'ticket-expired':
      return { heading: 'The download window of this order has closed', next: '<a href="/">Back to the catalogue</a> to order again.' };
    case 'unavailable':
      return { heading: 'The line cannot be checked right now', next: 'This page tries again by itself in a few seconds.' };
    default:
      return { heading: 'This place in line is not valid', next: '<a href="/">Back to the catalogue</a> to order again.' };
  }
}

/** Problem details are written as clauses ("this order has been delivered"); a page shows sentences. */
function sentence(text: string): string {
  const trimmed = text.trim();
  if (trimmed === '') return trimmed;
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/** A passing outage must not end the visits of a browser that waits by meta refresh alone. */
const RETRY_UNAVAILABLE_S = 5;

/** The waiting page. Without JavaScript a meta refresh brings the browser back; with it, waiting.js does better. */
export function renderWaitingPage(page: WaitingPage): string {
  if (page.kind === 'admitted') {
    const url = escapeHtml(page.ticketUrl);
    return layoutWithHead(
      'Your turn — Tessera',
      `<noscript><meta http-equiv="refresh" content="0;url=${url}"></noscript><script src="/assets/waiting.js" defer></script>`,
      `<h1>It is your turn</h1>
<p id="status" role="status">Your download of <strong>${escapeHtml(page.title)}</strong> starts now. If it does not, <a id="ticket" href="${url}" rel="noreferrer">start it here</a>.</p>`,
    );
  }
  if (page.kind === 'refused') {
    const { heading, next } = refusal(page.code);
    const body = `<h1>${heading}</h1>
<p>${escapeHtml(sentence(page.message))} <span class="muted">(${escapeHtml(page.code)})</span></p>
<p>${next}</p>`;
    if (page.code === 'unavailable') return layoutWithHead('Tessera — please wait', `<meta http-equiv="refresh" content="${RETRY_UNAVAILABLE_S}">`, body);
    return layout('Tessera — no place in line', body);
  }
  const w = page.wait;
  const retryS = Math.max(1, Math.ceil((w.retryAt - w.at) / 1000));
  return layoutWithHead(
    `Number ${w.position} in line — Tessera`,
    `<noscript><meta http-equiv="refresh" content="${retryS}"></noscript><script src="/assets/waiting.js" defer></script>${WAITING_STYLE}`,
    `<h1>You are in line</h1>
<p id="intro">${page.title === undefined ? '' : `Your order: <strong>${escapeHtml(page.title)}</strong>. `}Every download server is busy right now. Keep this page open: it lets you in by itself when it is your turn, in order of arrival.</p>
<div id="waiting" data-order="${w.orderId}" data-wait-ms="${Math.round(w.estimatedWaitMs)}" data-retry-ms="${Math.round(w.retryAt - w.at)}">
<div class="place">
<p>You are number <strong id="position" class="figure">${w.position}</strong> <span class="label">in line, of <span id="line-length">${w.lineLength}</span> waiting</span></p>
<p>Estimated wait <strong id="countdown" class="figure">${formatWait(w.estimatedWaitMs / 1000)}</strong> <span class="label">until your download starts</span></p>
</div>
<p id="status" class="muted" role="status">Your download starts by itself when it is your turn. Refreshing this page keeps your place.</p>
<p id="sound-on" class="muted" hidden>A chime will sound when it is your turn, so you can use another tab meanwhile.</p>
<p><button type="button" id="sound" hidden>Play a sound when it is my turn</button></p>
</div>`,
  );
}

function layoutWithHead(title: string, head: string, body: string): string {
  return layout(title, body).replace('</title>', `</title>${head}`);
}

/**
 * The waiting page's script (served from /assets/waiting.js so the CSP needs no inline script).
 * It follows the reception's advice: it comes back at retry time and long-polls, so the moment
 * a slot is its own it chimes (R10) and starts the download.
 */
export const WAITING_SCRIPT = `'use strict';
(function () {
  var audio = null;
  function audioContext() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    if (!audio) {
      try { audio = new Ctx(); } catch (e) { return null; }
    }
    return audio;
  }
  function chime() {
    var ctx = audioContext();
    if (!ctx) return;
    if (ctx.state === 'suspended' && ctx.resume) ctx.resume().catch(function () {});
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
  function byId(id) { return document.getElementById(id); }
  function show(id, on) { var el = byId(id); if (el) el.hidden = !on; }
  function say(text, link) {
    var status = byId('status');
    if (!status) return;
    status.textContent = text;
    if (link) {
      var a = document.createElement('a');
      a.href = link;
      a.rel = 'noreferrer';
      a.textContent = 'start it here';
      status.appendChild(document.createTextNode(' If it does not, '));
      status.appendChild(a);
      status.appendChild(document.createTextNode('.'));
    }
  }
  // The same words as formatWait() in pages.ts.
  function formatWait(seconds) {
    var s = Math.max(0, Math.ceil(seconds));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    function two(n) { return n < 10 ? '0' + n : String(n); }
    if (h > 0) return h + ' h ' + two(m) + ' min';
    if (m > 0) return m + ' min ' + two(r) + ' s';
    return r + ' s';
  }

  var ticker = null;
  function admitted(url) {
    if (ticker) clearInterval(ticker);
    document.title = 'Your turn — Tessera';
    var heading = document.querySelector('h1');
    if (heading) heading.textContent = 'It is your turn';
    var place = document.querySelector('.place');
    if (place) place.hidden = true;
    show('intro', false);
    show('sound', false);
    show('sound-on', false);
    say('Your download is starting.', url);
    var status = byId('status');
    if (status) status.className = '';
    chime();
    // Let the chime be heard before the download takes the browser's attention.
    setTimeout(function () { window.location.href = url; }, 700);
  }

  var ticket = byId('ticket');
  if (ticket) { admitted(ticket.href); return; }
  var root = byId('waiting');
  if (!root) return;
  var orderId = root.getAttribute('data-order');
  var admitAt = Date.now() + Number(root.getAttribute('data-wait-ms'));
  var ctx = audioContext();
  if (ctx && ctx.state === 'running') show('sound-on', true);
  else if (ctx) {
    // Browsers let a page make sound only after a click; offer one when they say so.
    var sound = byId('sound');
    if (sound) {
      sound.hidden = false;
      sound.addEventListener('click', function () {
        ctx.resume().then(function () { show('sound', false); show('sound-on', true); }, function () {});
      });
    }
  }
  function tick() {
    var el = byId('countdown');
    var left = (admitAt - Date.now()) / 1000;
    // An estimate can run out before the turn comes: say so rather than sit at zero.
    if (el) el.textContent = left > 0 ? formatWait(left) : 'any moment';
  }
  ticker = setInterval(tick, 1000);

  var POLL_S = 20;
  function check() {
    var aborter = window.AbortController ? new AbortController() : null;
    var timer = aborter ? setTimeout(function () { aborter.abort(); }, (POLL_S + 10) * 1000) : null;
    fetch('/queue/' + orderId + '/status?wait=' + POLL_S, { credentials: 'same-origin', cache: 'no-store', signal: aborter ? aborter.signal : undefined })
      .then(function (res) { return res.json().then(function (body) { return { status: res.status, body: body }; }); })
      .then(function (r) {
        if (timer) clearTimeout(timer);
        if (r.status === 200 && r.body.state === 'admitted') return admitted(r.body.ticketUrl);
        if (r.status === 200 && r.body.state === 'waiting') {
          byId('position').textContent = r.body.position;
          byId('line-length').textContent = r.body.lineLength;
          document.title = 'Number ' + r.body.position + ' in line — Tessera';
          admitAt = Date.now() + r.body.estimated_wait_s * 1000;
          tick();
          setTimeout(check, Math.max(0, r.body.retryAfterS * 1000));
          return;
        }
        // The place is gone (lapsed, delivered, not valid): the page itself says why and what next.
        if (r.status >= 400 && r.status < 500) return window.location.reload();
        setTimeout(check, 3000);
      })
      .catch(function () {
        if (timer) clearTimeout(timer);
        setTimeout(check, 3000);
      });
  }
  setTimeout(check, Math.max(0, Number(root.getAttribute('data-retry-ms'))));
})();
`;
