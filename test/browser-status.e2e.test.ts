import * as assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium, requireChromium, watchForPageProblems } from './support/browser.js';
import { startCluster, type Cluster } from './support/cluster.js';

// The operator's status page in a real headless Chromium: with JavaScript it redraws itself from
// Server-Sent Events as servers are drained and die, without reloading; without JavaScript it is
// the same table, reloaded by a meta refresh.

const chromiumReady = requireChromium();

const healthCell = (id: string): string => `tr[data-server="${id}"] td[data-col="health"]`;
const drainCell = (id: string): string => `tr[data-server="${id}"] td[data-col="drain"]`;

async function setDrain(cluster: Cluster, id: string, drained: boolean): Promise<void> {
  const response = await fetch(`${cluster.admin.controlUrl}/admin/servers/${id}/drain`, {
    method: drained ? 'PUT' : 'DELETE',
    headers: { authorization: `Bearer ${cluster.admin.token}` },
  });
  assert.equal(response.status, 200, await response.text());
}

describe('the status page', { skip: !chromiumReady && 'Chromium is not installed', timeout: 120_000 }, () => {
  let browser: Browser;
  let cluster: Cluster;

  before(async () => {
    browser = await launchChromium();
    cluster = await startCluster({ servers: 2, capacity: 3 });
  });

  after(async () => {
    await browser?.close();
    await cluster?.stop();
  });

  test('updates live in the browser as a server is drained, undrained and killed', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const problems = watchForPageProblems(page);
      const response = await page.goto(`${cluster.admin.controlUrl}/status`);
      assert.equal(response?.status(), 200);
      assert.match(response?.headers()['content-security-policy'] ?? '', /script-src 'self'/);
      assert.equal(await page.textContent(healthCell('cs-1')), 'healthy');
      assert.equal(await page.textContent(healthCell('cs-2')), 'healthy');
      await page.waitForSelector('#live.on');
      await page.waitForSelector('body[data-updates]');
      // Survives only as long as the page is not reloaded.
      await page.evaluate('window.sameDocument = true');

      await setDrain(cluster, 'cs-2', true);
      await page.waitForSelector(`${healthCell('cs-2')}.h-drained`);
      assert.match((await page.textContent(drainCell('cs-2'))) ?? '', /^operator /);
      assert.equal(await page.textContent(healthCell('cs-2')), 'drained');
      assert.match((await page.textContent('#summary')) ?? '', /2 content servers: 1 healthy, 1 drained/);

      await setDrain(cluster, 'cs-2', false);
      await page.waitForSelector(`${healthCell('cs-2')}.h-healthy`);
      assert.equal(await page.textContent(drainCell('cs-2')), '-');

      await cluster.kill('cs-1');
      await page.waitForSelector(`${healthCell('cs-1')}.h-stale`, { timeout: 20_000 });
      assert.equal(await page.textContent(healthCell('cs-1')), 'stale');

      assert.equal(await page.evaluate('window.sameDocument'), true, 'updated in place, never reloaded');
      assert.deepEqual(problems, []);
      await cluster.restart('cs-1');
      await page.waitForSelector(`${healthCell('cs-1')}.h-healthy`, { timeout: 20_000 });
    } finally {
      await context.close();
    }
  });

  test('works without JavaScript: the table, reloaded by a meta refresh', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    try {
      const page = await context.newPage();
      await page.goto(`${cluster.admin.controlUrl}/status`);
      assert.equal(await page.textContent(healthCell('cs-1')), 'healthy');
      assert.equal(await page.isVisible('#live'), false, 'no "live" badge without the script');
      await setDrain(cluster, 'cs-1', true);
      // The page comes back by itself and shows the drain.
      await page.waitForEvent('load', { timeout: 20_000 });
      assert.match((await page.textContent(drainCell('cs-1'))) ?? '', /^operator /);
      await setDrain(cluster, 'cs-1', false);
    } finally {
      await context.close();
    }
  });

  test('the event stream carries figures only: no URL, token or ticket', async () => {
    const abort = new AbortController();
    const response = await fetch(`${cluster.admin.controlUrl}/status/events`, { signal: abort.signal });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    const reader = response.body?.getReader();
    assert.ok(reader);
    let text = '';
    while (!text.includes('\n\nevent: status') || !text.endsWith('\n\n')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString('utf8');
    }
    abort.abort();
    const data = JSON.parse(/^data: (.*)$/m.exec(text)?.[1] ?? '{}') as { servers?: { id: string }[] };
    assert.deepEqual(data.servers?.map((s) => s.id), ['cs-1', 'cs-2']);
    assert.doesNotMatch(text, /http:|token|ticket|secret/i);
  });
});
