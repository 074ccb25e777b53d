import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fetchContent, type FetchEvent } from '../../client/fetch-content.js';
import { formatBytes, formatDuration, lowerFirst } from '../../client/format.js';
import { isBusyRefusal, type AdmissionEvent } from '../../client/place-order-admitted.js';
import { ProgressReporter } from '../../client/progress-reporter.js';
import { ReceptionClient } from '../../client/reception-client.js';
import { linePlaceOf } from '../../client/reception-decoders.js';
import { safeFileName } from '../../client/safe-file-name.js';
import { TesseraClientError } from '../../client/tessera-client-error.js';
import { WaitingLineReporter } from '../../client/waiting-line-reporter.js';

// tessera get CONTENT_ID [-o FILE] [--reception URL] [--no-wait] [--quiet] [--force]
//
// Orders a content item and downloads it: progress on stderr, `saved <file> (...)` on stdout.
// When every content server is busy it waits in line by itself (R9), showing its place and a
// countdown, and rings the terminal bell when admitted (R10). The exit codes are in USAGE.
// The permission ticket and the queue token are bearer credentials and are never printed; the
// content server's ID is.

const USAGE = `usage: tessera get CONTENT_ID [-o FILE] [--reception URL] [--no-wait] [--quiet] [--force]

  -o, --output FILE   where to save (default: the item's file name, in this directory)
  --reception URL     the reception (default: $TESSERA_RECEPTION_URL or http://localhost:8080)
  --no-wait           when every content server is busy, give up at once instead of
                      waiting in line
  -q, --quiet         print nothing but errors
  --force             overwrite FILE if it exists

When every content server is busy, tessera get waits in line: it shows its position and the
estimated wait, comes back when the reception says to, and rings the terminal bell when it is
admitted. ^C leaves the line.

exit codes:
  0    saved
  1    refused or failed (one line naming the problem code)
  2    usage error
  3    every content server was busy and --no-wait was given
  130  interrupted (a partial download is kept; the same command continues it)
`;

const DEFAULT_RECEPTION = 'http://localhost:8080';
const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
const EXIT_BUSY = 3;
const EXIT_INTERRUPTED = 130;

interface GetArgs {
  readonly contentId: string;
  readonly output: string | undefined;
  readonly reception: string;
  readonly quiet: boolean;
  readonly force: boolean;
  readonly wait: boolean;
}

function parse(argv: string[]): GetArgs | 'help' | string {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        output: { type: 'string', short: 'o' },
        reception: { type: 'string' },
        quiet: { type: 'boolean', short: 'q', default: false },
        force: { type: 'boolean', default: false },
        'no-wait': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    return (error as Error).message;
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  if (positionals.length !== 1) return positionals.length === 0 ? 'CONTENT_ID is missing' : 'only one CONTENT_ID, please';
  const contentId = positionals[0] ?? '';
  if (values.output === '') return '-o needs a file name';
  return {
    contentId,
    output: values.output,
    reception: values.reception ?? process.env['TESSERA_RECEPTION_URL'] ?? DEFAULT_RECEPTION,
    quiet: values.quiet,
    force: values.force,
    wait: !values['no-wait'],
  };
}

export async function run(argv: string[]): Promise<number> {
  const args = parse(argv);
  if (args === 'help') {
    process.stdout.write(USAGE);
    return EXIT_OK;
  }
  if (typeof args === 'string') {
    process.stderr.write(`tessera get: ${args}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  let reception: ReceptionClient;
  try {
    reception = new ReceptionClient({ baseUrl: args.reception });
  } catch {
    process.stderr.write(`tessera get: --reception must be an http(s) URL, not '${args.reception}'\n`);
    return EXIT_USAGE;
  }

  const controller = new AbortController();
  const interrupt = (): void => controller.abort(new Error('interrupted'));
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const reporter = new ProgressReporter({ stream: process.stderr, prefix: 'tessera get: ' });
  const line = new WaitingLineReporter({ stream: process.stderr, prefix: 'tessera get: ' });
  const show = (event: FetchEvent): void => {
    switch (event.type) {
      case 'waiting':
        return line.update(event);
      case 'retrying':
        return line.retrying(event);
      case 'admitted':
        return line.admitted(event);
      default:
        line.stop();
        return reporter.note(describe(event));
    }
  };
  let outputPath: string | undefined;
  try {
    const content = await reception.getContent(args.contentId, { signal: controller.signal });
    const shown = args.output ?? safeFileName(content.fileName, content.id);
    outputPath = resolve(shown);
    if (!args.force && (await exists(outputPath))) {
      process.stderr.write(`tessera get: ${shown} already exists (use -o to choose another file, or --force)\n`);
      return EXIT_FAILED;
    }
    const result = await fetchContent(reception, content.id, {
      outputPath,
      content,
      signal: controller.signal,
      whenBusy: args.wait ? 'wait' : 'fail',
      onProgress: args.quiet ? undefined : (p) => reporter.update(p),
      onEvent: args.quiet ? undefined : show,
    });
    if (!args.quiet) {
      reporter.finish();
      process.stdout.write(`saved ${shown} (${formatBytes(result.size)}, sha256 ok)\n`);
    }
    return EXIT_OK;
  } catch (error) {
    const wasWaiting = line.waiting;
    line.stop();
    reporter.clear();
    if (controller.signal.aborted) {
      const part = outputPath === undefined ? undefined : `${outputPath}.part`;
      const kept = part !== undefined && (await exists(part)) ? `; the part downloaded so far is kept in ${part} and the same command continues it` : '';
      process.stderr.write(`tessera get: interrupted${wasWaiting ? ' while waiting in line' : ''}${kept}\n`);
      return EXIT_INTERRUPTED;
    }
    if (!args.wait && isBusyRefusal(error)) {
      process.stderr.write(`tessera get: ${busyLine(error)} — run again or drop --no-wait\n`);
      return EXIT_BUSY;
    }
    process.stderr.write(`tessera get: ${failureLine(error)}\n`);
    return EXIT_FAILED;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}

function describe(event: Exclude<FetchEvent, AdmissionEvent>): string {
  switch (event.type) {
    case 'ordered':
      return `${event.reorder ? 'ordered again' : 'ordered'}: order ${event.orderId}, content server ${event.serverId}, ticket valid until ${event.expiresAt}`;
    case 'reordering':
      return `the ticket expired at ${formatBytes(event.atByte)} (${event.reason}); ordering again to continue`;
    case 'continuing-part':
      return `continuing the partial download (${formatBytes(event.bytes)} already here)`;
    case 'switching-server':
      return `content server ${event.from} cannot be reached (${event.reason}); switching to content server ${event.to} with a new ticket, resuming at ${formatBytes(event.atByte)}`;
    case 'completed-from-part':
      return 'the partial download from an earlier run was already complete';
    case 'resuming':
      return `${event.reason}; resuming at ${formatBytes(event.atByte)}${event.delayMs > 0 ? ` in ${formatDuration(event.delayMs / 1000)}` : ''}`;
    case 'restarting':
      return `${event.reason}; starting over`;
    default: {
      const unknown: never = event;
      return String(unknown);
    }
  }
}

function failureLine(error: unknown): string {
  if (error instanceof TesseraClientError) {
    const text = lowerFirst(error.detail ?? error.title);
    const wait = (error.status === 503 || error.status === 429) && error.retryAfterS !== undefined ? `; try again in ${formatDuration(error.retryAfterS)}` : '';
    const hint = error.code === 'queue-place-lost' ? ' — run again for a new place in line' : '';
    return `${text} (${error.code})${wait}${hint}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** "every content server is busy; position 7, about 0:12", or why there is no place. */
function busyLine(error: TesseraClientError): string {
  const place = linePlaceOf(error);
  if (place === undefined) return failureLine(error);
  const position = place.position === undefined ? '' : `; position ${place.position}`;
  const about = place.estimatedWaitS === undefined ? '' : `${position === '' ? ';' : ','} about ${formatDuration(place.estimatedWaitS)}`;
  return `every content server is busy${position}${about}`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
