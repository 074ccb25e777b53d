import { it } from 'node:test';
import * as assert from 'node:assert/strict';
import { runTicketBench } from '../../../bench/ticket-bench.js';

// The benchmark is part of the project: keep it runnable. A few milliseconds per operation
// prove it works end to end (including the Ed25519 peer); the numbers here mean nothing.
it('runTicketBench returns the markdown tables', async () => {
  const markdown = await runTicketBench({ seconds: 0.005, runs: 1, warmupSeconds: 0.001 });
  assert.match(markdown, /\| AES-256-GCM verify \(binding off\) \| [\d,]+ \| [\d.]+ \|/);
  assert.match(markdown, /\| Ed25519 verify \(same payload, in clear\) \| [\d,]+ \| [\d.]+ \|/);
  assert.match(markdown, /\| off \(default\) \| 96 \| 128 \| \d+ \|/);
  assert.match(markdown, /\| prefix IPv6 \/56 \| 113 \| 151 \| \d+ \|/);
});
