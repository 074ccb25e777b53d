import { pino, destination, type DestinationStream, type Logger } from 'pino';

// Structured JSON logs. Tickets, keys, tokens, cookies and passwords never reach a log line:
// known field names are redacted by pino, and URLs are passed through redactUrl before they
// are logged, because a ticket URL is a bearer credential. test/log-safety.test.ts proves it.

export type { Logger };

const REDACT_PATHS = [
  'ticket',
  'ticketUrl',
  'token',
  'secret',
  'password',
  'keySet',
  'authorization',
  'cookie',
  '*.ticket',
  '*.ticketUrl',
  '*.token',
  '*.secret',
  '*.password',
  '*.keySet',
  '*.authorization',
  '*.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
];

export interface LoggerOptions {
  readonly name: string;
  readonly level?: string;
  readonly destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? process.env['TESSERA_LOG_LEVEL'] ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
    },
    options.destination ?? destination({ sync: false }),
  );
}

/** A URL with any ticket part replaced: /t/<ticket>/... becomes /t/[redacted]/... */
export function redactUrl(url: string): string {
  return url.replace(/\/t\/[^/?#]*/g, '/t/[redacted]').replace(/([?&](?:token|ticket|queue_token)=)[^&#]*/gi, '$1[redacted]');
}
