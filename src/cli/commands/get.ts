import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fetchContent, type FetchEvent } from '../../client/fetch-content.js';
import { formatBytes, formatDuration } from '../../client/format.js';
import type { BusyPolicy } from '../../client/place-order-admitted.js';
import { ProgressReporter } from '../../client/progress-reporter.js';
import { ReceptionClient } from '../../client/reception-client.js';
import { safeFileName } from '../../client/safe-file-name.js';
import { TesseraClientError } from '../../client/tessera-client-error.js';

// tessera get CONTENT_ID [-o FILE] [--reception URL] [--quiet] [--force]
//
// Orders a content item and downloads it: progress on stderr, `saved <file> (...)` on stdout.
// Exit codes: 0 saved; 1 refused or failed (one line naming the problem code); 2 usage error;
// 130 interrupted (the part file is kept, and running the same command again continues it).
// The permission ticket is a bearer credential and is never printed; the content server's ID is.

const USAGE = `usage: tessera get CONTENT_ID [-o FILE] [--reception URL] [--quiet] [--force]

  -o, --output FILE   where to save (default: the item's file name, in this directory)
  --reception URL     the reception (default: $TESSERA_RECEPTION_URL or http://localhost:8080)
  -q, --quiet         print nothing but errors
  --force             overwrite FILE if it exists
`;

const DEFAULT_RECEPTION = 'http://localhost:8080';
const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
const EXIT_INTERRUPTED = 130;

interface GetArgs {
  readonly contentId: string;
  readonly output: string | undefined;
  readonly reception: string;
  readonly quiet: boolean;
  readonly force: boolean;
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
  };
}

/**
 * What to do when the reception says every server is busy (503 + Retry-After, R9). For now:
 * give up, and `failureLine` tells the user when to try again. Issue 3 makes this the one
 * place where `tessera get` waits and retries by itself (and says so, R10).
 */
function busyPolicy(): BusyPolicy | undefined {
  return undefined;
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
      whenBusy: busyPolicy(),
      onProgress: args.quiet ? undefined : (p) => reporter.update(p),
      onEvent: args.quiet ? undefined : (e) => reporter.note(describe(e)),
    });
    if (!args.quiet) {
      reporter.finish();
      process.stdout.write(`saved ${shown} (${formatBytes(result.size)}, sha256 ok)\n`);
    }
    return EXIT_OK;
  } catch (error) {
    reporter.clear();
    if (controller.signal.aborted) {
      const kept = outputPath === undefined ? '' : `; the part downloaded so far is kept in ${outputPath}.part and the same command continues it`;
      process.stderr.write(`tessera get: interrupted${kept}\n`);
      return EXIT_INTERRUPTED;
    }
    process.stderr.write(`tessera get: ${failureLine(error)}\n`);
    return EXIT_FAILED;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}

function describe(event: FetchEvent): string {
  switch (event.type) {
    case 'ordered':
      return `${event.reorder ? 'ordered again' : 'ordered'}: order ${event.orderId}, content server ${event.serverId}, ticket valid until ${event.expiresAt}`;
    case 'reordering':
      return `the ticket expired at ${formatBytes(event.atByte)} (${event.reason}); ordering again to continue`;
    case 'continuing-part':
      return `continuing the partial download (${formatBytes(event.bytes)} already here)`;
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
    const wait = error.status === 503 && error.retryAfterS !== undefined ? `; try again in ${formatDuration(error.retryAfterS)}` : '';
    return `${text} (${error.code})${wait}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** "No such content item" reads better mid-line as "no such content item"; "ID ..." stays. */
function lowerFirst(text: string): string {
  return /^[A-Z][a-z]/.test(text) ? text[0]?.toLowerCase() + text.slice(1) : text;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
