import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import type { Browser, BrowserContext, Download, Page } from 'playwright-core';
import { launchChromium, requireChromium, watchForPageProblems } from './support/browser.js';
import { startCluster, type Cluster } from './support/cluster.js';

// R9 and R10 in a real browser: one content server with one slot, held by a paused download;
// a plain browser orders from the catalogue page, lands on the waiting page, and is admitted
// by itself when the slot frees — with a sound and the download starting — with JavaScript,
// and by meta refresh alone without it.

const ORDER_ID = /\/queue\/([0-9a-f-]{36})$/;

/** Records every oscillator the page starts, so the test can tell the admission chime played. */
const RECORD_SOUNDS = `(() => {
  const sounds = [];
  Object.defineProperty(window, '__sounds', { value: sounds });
  const Ctx = window.AudioContext;
  if (!Ctx) return;
  const createOscillator = Ctx.prototype.createOscillator;
  Ctx.prototype.createOscillator = function () {
    const ctx = this;
    const osc = createOscillator.call(ctx);
    sounds.push({ call: 'createOscillator', state: ctx.state });
    const start = osc.start;
    osc.start = function (...args) {
      sounds.push({ call: 'start', state: ctx.state, hz: osc.frequency.value });
      return start.apply(this, args);
    };
    return osc;
  };
})();`;

interface Sound {
  call: string;
  state: string;
  hz?: number;
}

/**
 * Starts a download and pauses it after the first chunk: the slot stays taken until `finish()`,
 * which reads the rest and closes the connection, as curl does, so the content server sees at
 * once that every byte arrived and frees the slot.
 */
function holdSlot(url: string, agent: Agent): Promise<{ finish: () => Promise<number> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent });
    req.once('error', reject);
    req.once('response', (res: IncomingMessage) => {
      const socket = res.socket;
      let bytes = 0;
      res.once('data', (chunk: Buffer) => {
        bytes += chunk.length;
        res.pause();
        resolve({
          finish: () =>
            new Promise<number>((done) => {
              res.on('data', (c: Buffer) => (bytes += c.length));
              res.once('end', () => {
                socket.end();
                done(bytes);
              });
              res.resume();
            }),
        });
      });
    });
    req.end();
  });
}

const chromiumReady = requireChromium();

describe('a plain browser waits in line and is admitted by itself', { skip: !chromiumReady && 'Chromium is not installed', timeout: 120_000 }, () => {
  let browser: Browser;
  let tmp: string;
  // Each test gets its own topology, so one that fails leaves no taken slot or waiting order behind.
  let cluster: Cluster;
  let item: { id: string; sha256: string; size: number; fileName: string };
  let agent: Agent;
  let contexts: BrowserContext[] = [];

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'tessera-browser-'));
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  beforeEach(async () => {
    agent = new Agent({ keepAlive: true });
    cluster = await startCluster({
      servers: 1,
      capacity: 1,
      env: {
        // The reception tells a waiting client to stay away at most TESSERA_HOLD_S − 5 s, and
        // at least 1 s (an admitted client's slot is held that long): a short hold keeps the
        // visits of the waiting pages a second apart.
        TESSERA_HOLD_S: '6',
        // A browser keeps its connection open after a download; the content server then
        // looks every TESSERA_DELIVERY_CONFIRM_MS for proof that the last bytes arrived
        // before it frees the slot for the next in line.
        TESSERA_DELIVERY_CONFIRM_MS: '300',
        TESSERA_ORDER_RATE_PER_S: '1000',
        TESSERA_ORDER_BURST: '1000',
      },
    });
    const path = join(cluster.dataDir, 'item.bin');
    await writeFile(path, randomBytes(8 * 1024 * 1024));
    item = await cluster.addFile(path, 'Item');
  });

  afterEach(async () => {
    await Promise.all(contexts.map((c) => c.close()));
    contexts = [];
    agent?.destroy();
    await cluster?.stop();
  });

  async function newContext(options: { javaScriptEnabled?: boolean } = {}): Promise<BrowserContext> {
    const context = await browser.newContext({ acceptDownloads: true, ...options });
    await context.addInitScript(RECORD_SOUNDS);
    contexts.push(context);
    return context;
  }

  /** Takes the only slot with a JSON order and a paused download of its ticket. */
  async function takeTheSlot(): Promise<{ finish: () => Promise<number> }> {
    const response = await fetch(`${cluster.receptionUrl}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ contentId: item.id }),
    });
    const body = (await response.json()) as { ticket?: { url: string } };
    assert.equal(response.status, 201, `the slot should be free: ${JSON.stringify(body)}`);
    const holder = await holdSlot(String(body.ticket?.url), agent);
    // Order only once the transfer has visibly stalled (socket buffers full) for longer than the
    // content server's 1 s rate window: every waiting page then gets the same estimate, the slot
    // held until its ticket expires, minutes away, and not one extrapolated from the first burst.
    const deadline = Date.now() + 10_000;
    let stalledSince: number | undefined;
    for (;;) {
      const response = await fetch(`${cluster.admin.controlUrl}/admin/servers`, { headers: { authorization: `Bearer ${cluster.admin.token}` } });
      const { servers } = (await response.json()) as { servers: { activeTransfers: number; bytesPerSecond: number }[] };
      const stalled = (servers[0]?.activeTransfers ?? 0) >= 1 && servers[0]?.bytesPerSecond === 0;
      stalledSince = stalled ? (stalledSince ?? Date.now()) : undefined;
      if (stalledSince !== undefined && Date.now() - stalledSince >= 1_300) return holder;
      if (Date.now() > deadline) throw new Error('the transfer that holds the slot never stalled');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Resolves once the page's next long-poll for its status has been sent and has had a moment
   * to reach the reception and start waiting there: WaitingRoom.comeBack listens for the
   * admission only after its own admission pass, so one made during that pass is seen only
   * when the 20 s wait ends.
   */
  function firstLongPoll(page: Page): Promise<void> {
    const sent = page
      .waitForRequest((r) => /\/queue\/[0-9a-f-]{36}\/status\?wait=\d+$/.test(r.url()), { timeout: 30_000 })
      .then(() => new Promise<void>((r) => setTimeout(r, 250)));
    sent.catch(() => undefined); // awaited later; a test that fails first must not leave it unhandled
    return sent;
  }

  async function orderState(orderId: string): Promise<string> {
    return ((await (await fetch(`${cluster.receptionUrl}/orders/${orderId}`)).json()) as { state: string }).state;
  }

  /** The slot is free again only once the reception has heard that the order was delivered. */
  async function waitUntilCompleted(orderId: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    let state = await orderState(orderId);
    while (state !== 'completed' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      state = await orderState(orderId);
    }
    assert.equal(state, 'completed', `order ${orderId}`);
  }

  /** Opens the catalogue, clicks the item's Order button and returns the waiting page's order ID. */
  async function orderFromCatalogue(page: Page): Promise<{ orderId: string; headers: Record<string, string> }> {
    await page.goto(`${cluster.receptionUrl}/`);
    const landed = page.waitForResponse((r) => ORDER_ID.test(new URL(r.url()).pathname) && r.request().isNavigationRequest());
    await page.getByRole('row', { name: /Item/ }).getByRole('button', { name: 'Order' }).click();
    const response = await landed;
    assert.equal(response.status(), 200);
    await page.waitForURL(ORDER_ID);
    const orderId = ORDER_ID.exec(new URL(page.url()).pathname)?.[1];
    assert.ok(orderId, page.url());
    return { orderId, headers: response.headers() };
  }

  /** Into the temp dir, and into TESSERA_SCREENSHOT_DIR when set (docs/images/waiting-page.png comes from there). */
  async function screenshot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: join(tmp, name) });
    const dir = process.env['TESSERA_SCREENSHOT_DIR'];
    if (dir) await page.screenshot({ path: join(dir, name) });
  }

  async function sha256Of(download: Download): Promise<string> {
    assert.equal(await download.failure(), null);
    const path = join(tmp, `${Math.random().toString(36).slice(2)}-${download.suggestedFilename()}`);
    await download.saveAs(path);
    return createHash('sha256').update(await readFile(path)).digest('hex');
  }

  function assertPolicyAllowsThePage(headers: Record<string, string>): void {
    const csp = headers['content-security-policy'] ?? '';
    assert.match(csp, /script-src 'self'/, 'the page runs its own script');
    assert.doesNotMatch(csp, /script-src[^;]*'unsafe-inline'/, 'and no inline script');
  }

  test('with JavaScript: number 1 in line, a live countdown, then a chime and the download, by itself', async () => {
    const holder = await takeTheSlot();
    const page = await (await newContext()).newPage();
    const problems = watchForPageProblems(page);
    const longPolling = firstLongPoll(page);
    const { orderId, headers } = await orderFromCatalogue(page);
    assertPolicyAllowsThePage(headers);
    assert.equal(await page.locator('#position').textContent(), '1');
    assert.match((await page.locator('#waiting').innerText()).replace(/\s+/g, ' '), /You are number 1 in line/);
    assert.equal(await page.title(), 'Number 1 in line — Tessera');

    const before = await page.locator('#countdown').textContent();
    await page.waitForTimeout(1_150);
    const later = await page.locator('#countdown').textContent();
    assert.match(String(before), /^\d+ min \d\d s$/, `minutes away, the slot being held until its ticket expires: ${String(before)}`);
    assert.notEqual(later, before, 'the countdown moves');
    await screenshot(page, 'waiting-page.png');

    // Nobody touches the page from here. Once it is long-polling, the slot frees: the pending
    // long-poll (held up to 20 s) answers at the admission and the download starts at once.
    await longPolling;
    const downloading = page.waitForEvent('download', { timeout: 30_000 });
    const releasedAt = Date.now();
    await holder.finish();
    const download = await downloading;
    assert.ok(Date.now() - releasedAt < 8_000, `admitted ${Date.now() - releasedAt} ms after the slot freed`);
    assert.equal(download.suggestedFilename(), item.fileName);
    assert.match(download.url(), new RegExp(`/t/[^/]+/${item.id}/${item.fileName}$`));
    assert.equal(await sha256Of(download), item.sha256);

    const sounds = (await page.evaluate('window.__sounds')) as Sound[];
    const started = sounds.filter((s) => s.call === 'start');
    assert.ok(started.length >= 1, `an oscillator started: ${JSON.stringify(sounds)}`);
    assert.ok(started.every((s) => s.state === 'running'), `the audio context can be heard: ${JSON.stringify(sounds)}`);
    assert.equal(await page.locator('h1').textContent(), 'It is your turn');
    await screenshot(page, 'admitted-page.png');
    assert.equal(await page.locator('#status a').getAttribute('href'), download.url(), 'a link in case the download does not start');
    await waitUntilCompleted(orderId);

    // Coming back to the waiting page afterwards says what happened, not that something failed.
    const again = await page.goto(`${cluster.receptionUrl}/queue/${orderId}`);
    assert.equal(again?.status(), 410);
    assert.equal(await page.locator('h1').textContent(), 'This order has been delivered');
    assert.deepEqual(problems, []);
  });

  test('refreshing keeps the place: same order, same number, and the later browser stays behind', async () => {
    const holder = await takeTheSlot();
    const first = await (await newContext()).newPage();
    const second = await (await newContext()).newPage();
    const problems = [...watchForPageProblems(first), ...watchForPageProblems(second)];
    const a = await orderFromCatalogue(first);
    const b = await orderFromCatalogue(second);
    assert.notEqual(a.orderId, b.orderId);
    assert.deepEqual([await first.locator('#position').textContent(), await second.locator('#position').textContent()], ['1', '2']);

    const longPolls = new Map<Page, Promise<void>>();
    for (let round = 0; round < 2; round++) {
      for (const [page, orderId, position] of [[first, a.orderId, '1'], [second, b.orderId, '2']] as const) {
        longPolls.set(page, firstLongPoll(page));
        const response = await page.reload();
        assert.equal(response?.status(), 200);
        assert.equal(ORDER_ID.exec(new URL(page.url()).pathname)?.[1], orderId, 'the same order after a reload');
        assert.equal(await page.locator('#position').textContent(), position, `still number ${position} after reload ${round + 1}`);
      }
    }

    // Both are admitted by themselves, in arrival order: the second only once the first is delivered.
    await Promise.all(longPolls.values());
    const order: string[] = [];
    const firstDownload = first.waitForEvent('download', { timeout: 30_000 }).then((d) => (order.push('first'), d));
    const secondDownload = second.waitForEvent('download', { timeout: 45_000 }).then((d) => (order.push('second'), d));
    await holder.finish();
    assert.equal(await sha256Of(await firstDownload), item.sha256);
    assert.equal(await sha256Of(await secondDownload), item.sha256);
    assert.deepEqual(order, ['first', 'second']);
    assert.deepEqual(problems, []);
    await waitUntilCompleted(a.orderId);
    await waitUntilCompleted(b.orderId);
  });

  test('without JavaScript: the meta refresh brings the browser back until the download starts', async () => {
    const holder = await takeTheSlot();
    const page = await (await newContext({ javaScriptEnabled: false })).newPage();
    const problems = watchForPageProblems(page);
    let visits = 0;
    page.on('request', (r) => {
      if (r.isNavigationRequest() && ORDER_ID.test(new URL(r.url()).pathname)) visits++;
    });
    const { orderId } = await orderFromCatalogue(page);
    const html = await page.content();
    assert.match(html, /<noscript><meta http-equiv="refresh" content="\d+"><\/noscript>/);
    assert.equal(await page.locator('#position').textContent(), '1');

    // The page comes back by itself while the slot is taken...
    const deadline = Date.now() + 10_000;
    while (visits < 2 && Date.now() < deadline) await page.waitForTimeout(100);
    assert.ok(visits >= 2, 'the meta refresh reloads the waiting page');
    assert.equal(ORDER_ID.exec(new URL(page.url()).pathname)?.[1], orderId);
    assert.equal(await page.locator('#position').textContent(), '1', 'and keeps the place');

    // ...and, once it is free, its next visit starts the download.
    const downloading = page.waitForEvent('download', { timeout: 30_000 });
    await holder.finish();
    assert.equal(await sha256Of(await downloading), item.sha256);
    assert.equal(((await page.evaluate('window.__sounds')) as Sound[] | undefined)?.length ?? 0, 0, 'no script ran');
    assert.deepEqual(problems, []);
    await waitUntilCompleted(orderId);
  });

  test('with a free slot the Order button starts the download at once: the policy lets the form go to the content server', async () => {
    const page = await (await newContext()).newPage();
    const problems = watchForPageProblems(page);
    await page.goto(`${cluster.receptionUrl}/`);
    const downloading = page.waitForEvent('download', { timeout: 15_000 });
    await page.getByRole('row', { name: /Item/ }).getByRole('button', { name: 'Order' }).click();
    assert.equal(await sha256Of(await downloading), item.sha256);
    assert.deepEqual(problems, []);
  });
});
