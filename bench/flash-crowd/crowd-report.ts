import type { ErrorStats, SystemAnalysis, Utilisation } from './crowd-analysis.js';

// The flash-crowd section of docs/benchmarks.md: settings, goals, estimate accuracy and the
// comparison of the waiting line with a plain 503, as Markdown tables.

export interface ReportSetting {
  readonly label: string;
  readonly value: string;
}

export interface ReportInput {
  readonly settings: readonly ReportSetting[];
  readonly line: SystemAnalysis | undefined;
  readonly plain: SystemAnalysis | undefined;
  readonly chartFile: string | undefined;
  readonly goals: { readonly medianError: number; readonly p90Error: number; readonly utilisation: number };
}

const pct = (x: number): string => (Number.isFinite(x) ? `${(x * 100).toFixed(1)} %` : '–');
const signedPct = (x: number): string => (Number.isFinite(x) ? `${x >= 0 ? '+' : '−'}${(Math.abs(x) * 100).toFixed(1)} %` : '–');
const sec = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(x < 10 ? 2 : 1)} s` : '–');
const int = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const cores = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '–');

function verdict(ok: boolean | undefined): string {
  if (ok === undefined) return 'not measured';
  return ok ? '**met**' : '**not met**';
}

function errorRow(label: string, s: ErrorStats): string {
  return `| ${label} | ${int(s.n)} | ${int(s.missing)} | ${pct(s.median)} | ${pct(s.p90)} | ${signedPct(s.bias)} |`;
}

function utilRow(label: string, u: Utilisation | null | undefined): string {
  if (!u) return `| ${label} | – | – | – | – | – | – |`;
  return `| ${label} | ${int(u.samples)} | **${pct(u.active)}** | ${pct(u.taken)} | ${pct(u.held)} | ${pct(u.idle)} | ${pct(u.free)} |`;
}

function goalsTable(input: ReportInput): string {
  const line = input.line;
  const e = line?.estimates?.first.ours;
  const u = line?.utilisationWhileLine;
  const rows = [
    `| Median \\|predicted − actual\\| ÷ actual, first estimate of each client | ≤ ${pct(input.goals.medianError)} | ${e ? pct(e.median) : '–'} (position ÷ outflow: ${line?.estimates ? pct(line.estimates.first.baseline.median) : '–'}) | ${verdict(e ? e.median <= input.goals.medianError : undefined)} |`,
    `| p90 of the same | ≤ ${pct(input.goals.p90Error)} | ${e ? pct(e.p90) : '–'} (position ÷ outflow: ${line?.estimates ? pct(line.estimates.first.baseline.p90) : '–'}) | ${verdict(e ? e.p90 <= input.goals.p90Error : undefined)} |`,
    `| Admissions out of arrival order (the line's arrival numbers) | 0 | ${line?.fairness.queuePairs !== null && line?.fairness.queuePairs !== undefined ? int(line.fairness.queuePairs) : '–'} | ${verdict(line?.fairness.queuePairs === null || line?.fairness.queuePairs === undefined ? undefined : line.fairness.queuePairs === 0)} |`,
    `| Slots actively transferring while the line is not empty | ≥ ${pct(input.goals.utilisation)} | ${u ? pct(u.active) : '–'} (slots taken: ${u ? pct(u.taken) : '–'}) | ${verdict(u ? u.active >= input.goals.utilisation : undefined)} |`,
  ];
  return ['| Goal | Target | Result | |', '|---|---|---|---|', ...rows].join('\n');
}

function estimateTables(line: SystemAnalysis): string {
  const e = line.estimates;
  if (!e) return '';
  const head = ['| Estimate | Answers | Left out (null) | Median error | p90 error | Median bias (+ too long) |', '|---|--:|--:|--:|--:|--:|'];
  const main = [
    ...head,
    errorRow('Tessera, first answer of each client', e.first.ours),
    errorRow('position ÷ outflow as sent (`estimate_baseline_s`), first answer', e.first.baseline),
    errorRow('position ÷ outflow, recomputed with a window no longer than the line’s age, first answer', e.first.recomputed),
    errorRow('Tessera, every answer', e.all.ours),
    errorRow('position ÷ outflow as sent, every answer', e.all.baseline),
    errorRow('position ÷ outflow, recomputed, every answer', e.all.recomputed),
  ].join('\n');
  const bands = [
    '| Place in line at the first answer | Clients | Tessera median | Tessera p90 | Tessera bias | position ÷ outflow median | p90 | null |',
    '|---|--:|--:|--:|--:|--:|--:|--:|',
    ...e.bands.map(
      (b) => `| ${b.label} | ${int(b.n)} | ${pct(b.ours.median)} | ${pct(b.ours.p90)} | ${signedPct(b.ours.bias)} | ${pct(b.baseline.median)} | ${pct(b.baseline.p90)} | ${int(b.baseline.missing)} |`,
    ),
  ].join('\n');
  return `${main}\n\nBy place in line (first answers):\n\n${bands}`;
}

function comparisonTable(line: SystemAnalysis | undefined, plain: SystemAnalysis | undefined): string {
  const cell = (a: SystemAnalysis | undefined, f: (a: SystemAnalysis) => string): string => (a ? f(a) : '–');
  const row = (label: string, f: (a: SystemAnalysis) => string): string => `| ${label} | ${cell(line, f)} | ${cell(plain, f)} |`;
  const u = (a: SystemAnalysis): Utilisation => a.utilisationWhileWaiting;
  const statuses = (a: SystemAnalysis): string =>
    Object.entries(a.statuses)
      .sort(([x], [y]) => x.localeCompare(y))
      .map(([k, v]) => `${k}: ${int(v)}`)
      .join(', ');
  return [
    '| | Waiting line (Tessera) | Plain 503, retry every 1 s |',
    '|---|--:|--:|',
    row('Clients served (verified length) / failed', (a) => `${int(a.served)} / ${int(a.failed)}`),
    row('Arrivals spread over', (a) => sec(a.arrivalSpanS)),
    row('**Time until everyone is served** (first arrival → last byte)', (a) =>
      a.failed === 0 ? `**${sec(a.allServedS)}**` : `never: ${int(a.failed)} gave up (last of the others: ${sec(a.allServedS)})`,
    ),
    row('New order → first answer: p50 / p90 / max', (a) => `${sec(a.firstAnswer.p50)} / ${sec(a.firstAnswer.p90)} / ${sec(a.firstAnswer.max)}`),
    row('Clients that never got any answer (30 s timeouts or resets until they gave up)', (a) => int(a.unanswered)),
    row('Time until everyone is admitted', (a) => sec(a.allAdmittedS)),
    row('Least possible (total transfer time ÷ slots)', (a) => sec(a.idealS)),
    row('Wait, arrival → ticket: p50 / p90 / max', (a) => `${sec(a.wait.p50)} / ${sec(a.wait.p90)} / ${sec(a.wait.max)}`),
    row('Fairness: Spearman ρ (arrival time, admission time)', (a) => (Number.isFinite(a.fairness.spearman) ? a.fairness.spearman.toFixed(4) : '–')),
    row('Client pairs admitted against arrival order (all / arrivals > 100 ms apart)', (a) => `${int(a.fairness.clientPairs)} / ${int(a.fairness.clientPairsBeyond100ms)}`),
    row('Pairs admitted against the line’s arrival numbers', (a) => (a.fairness.queuePairs === null ? 'no line' : int(a.fairness.queuePairs))),
    row('Spearman ρ (client arrival time, the line’s arrival number)', (a) =>
      a.fairness.queueVsArrival === null || !Number.isFinite(a.fairness.queueVsArrival) ? 'no line' : a.fairness.queueVsArrival.toFixed(4),
    ),
    row('Kernel: listen-queue overflows / SYN cookies sent, during the run (whole machine)', (a) =>
      a.tcp ? `${int(a.tcp.ListenOverflows)} / ${int(a.tcp.TCPReqQFullDoCookies)}` : '–',
    ),
    row('Orders admitted from the line / places lost (left-the-line)', (a) => (a.name === 'line' ? `${int(a.fairness.fromLine)} / ${int(a.fairness.lapsed)}` : 'no line')),
    row('**Requests to the reception**: total / per client / max one client / per second', (a) => `**${int(a.requests.total)}** / ${a.requests.perClient.toFixed(1)} / ${int(a.requests.max)} / ${int(a.requests.perSecond)}`),
    row('Answers by status', statuses),
    row('Orders in the database by outcome', (a) =>
      Object.entries(a.orderCounts)
        .sort(([x], [y]) => x.localeCompare(y))
        .map(([k, v]) => `${k}: ${int(v)}`)
        .join(', '),
    ),
    row('**Slots actively transferring** while anyone waits', (a) => `**${pct(u(a).active)}**`),
    row('… slots taken (held + transferring + finishing)', (a) => pct(u(a).taken)),
    row('… held for an admitted client not yet downloading', (a) => pct(u(a).held)),
    row('… transfer ended, waiting for delivery evidence (idle)', (a) => pct(u(a).idle)),
    row('… free', (a) => pct(u(a).free)),
    row('Admission (reception’s database) → the client has its ticket: p50 / p90 / max', (a) => `${sec(a.admissionToTicket.p50)} / ${sec(a.admissionToTicket.p90)} / ${sec(a.admissionToTicket.max)}`),
    row('Clients whose ticket came > 0.5 s after their admission', (a) => int(a.awayAtAdmission)),
    row('Ticket → first byte: p50 / p90', (a) => `${sec(a.ticketToFirstByte.p50)} / ${sec(a.ticketToFirstByte.p90)}`),
    row('Reception CPU, cores: mean / busiest second', (a) => `${cores(a.cpu.receptionMean)} / ${cores(a.cpu.receptionMax)}`),
    row('Content servers CPU (3 together) / load generator CPU, cores', (a) => `${cores(a.cpu.contentMean)} / ${cores(a.cpu.crowdMean)}`),
    row('Machine busy (all cores) / of which not this bench (other work, unbilled kernel time), cores', (a) => `${pct(a.cpu.machineBusyMean)} / ${cores(a.cpu.otherMean)}`),
    row('Busy cores on the machine just before the run', (a) => cores(a.busyBeforeCores)),
    row('Load generator event-loop delay p99 / max', (a) => `${a.loopDelayMs.p99.toFixed(1)} ms / ${a.loopDelayMs.max.toFixed(0)} ms`),
    row('Admission times from the database / from the client (missed by the watcher)', (a) => `${int(a.admissionTimesFromDatabase)} / ${int(a.admissionTimesFromClient)}`),
  ].join('\n');
}

export function flashCrowdMarkdown(input: ReportInput): string {
  const { line, plain } = input;
  const parts: string[] = [];
  parts.push('## Flash crowd: the waiting line (`npm run bench:crowd`)');
  parts.push(['| | |', '|---|---|', ...input.settings.map((s) => `| ${s.label} | ${s.value} |`)].join('\n'));
  parts.push('### Goals');
  parts.push(goalsTable(input));
  if (line?.estimates) {
    parts.push('### How good is the estimate');
    parts.push(
      `${int(line.estimates.waited)} of ${int(line.clients)} clients had to wait (the others were admitted by their first order). ` +
        'Error = |predicted − actual| ÷ actual, where actual = the reception’s admission time of the order (from its database) − the time the client received the answer; ' +
        'actual waits under 0.1 s count as 0.1 s. Null baselines are left out and counted. ' +
        `${int(line.estimates.afterAdmission)} answers arrived after their order had already been admitted and are left out.`,
    );
    parts.push(estimateTables(line));
    parts.push(
      `While the line lasted, ${line.estimates.measuredOutflow.toFixed(2)} clients/s were admitted from it; an uncalibrated replay of the line would assume ` +
        `${line.estimates.assumedOutflow.toFixed(2)}/s (${line.capacity} slots ÷ (mean transfer time of those in line + a fixed 50 ms start-up)), ` +
        `and so be ${signedPct(line.estimates.measuredOutflow / line.estimates.assumedOutflow - 1)} off. The reception's replay instead adds the slot overhead it learns from its own admissions (docs/waiting.md).`,
    );
    if (input.chartFile) parts.push(`![Predicted against actual wait, Tessera and position ÷ outflow](${input.chartFile})`);
  }
  parts.push('### The whole system: waiting line against a plain 503');
  parts.push(comparisonTable(line, plain));
  parts.push('Slot use, as shares of all slots, averaged over the samples:');
  parts.push(
    [
      '| Period | Samples | Transferring | Taken | Held, not yet downloading | Idle, transfer over, awaiting delivery evidence | Free |',
      '|---|--:|--:|--:|--:|--:|--:|',
      utilRow('Waiting line: the reception’s line is not empty', line?.utilisationWhileLine),
      utilRow('Waiting line: some arrived client is not yet admitted', line?.utilisationWhileWaiting),
      utilRow('Plain 503: some arrived client is not yet admitted', plain?.utilisationWhileWaiting),
    ].join('\n'),
  );
  for (const a of [line, plain]) {
    if (a?.profile) parts.push(`#### Where the reception's CPU went (${a.name === 'line' ? 'waiting line' : 'plain 503'}; self time, whole life of the process)\n\n${a.profile}`);
  }
  const errors = [...(line?.errors ?? []).map((e) => `line: ${e}`), ...(plain?.errors ?? []).map((e) => `plain: ${e}`)];
  if (errors.length > 0) parts.push(`Client errors (first distinct ones): ${errors.map((e) => `\`${e}\``).join('; ')}`);
  return parts.join('\n\n');
}
