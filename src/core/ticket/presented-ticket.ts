import { TesseraError } from '../errors.js';
import { isServerId } from '../ids.js';
import { decodeStrictBase64url, MAX_TICKET_CHARS } from './ticket.js';

// A ticket a client hands back to a reception (to prove it holds an order's ticket when it asks
// for a replacement): either the whole ticket URL or the ticket part alone. The reception, which
// can derive every server's keys, opens it with verifyTicket once it knows the audience, which
// this reads from the ticket's clear, authenticated header (see ticket.ts).

/** The ticket text inside a ticket URL (`…/t/<ticket>/<contentId>/<fileName>`) or the text itself. */
export function ticketTextOf(presented: string): string {
  const text = presented.trim();
  if (/^https?:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new TesseraError('ticket-malformed', 'the ticket URL is not a URL');
    }
    const segments = url.pathname.split('/');
    const at = segments.lastIndexOf('t', segments.length - 3);
    const ticket = at >= 0 ? segments[at + 1] : undefined;
    if (ticket === undefined || ticket === '') throw new TesseraError('ticket-malformed', 'the URL holds no ticket part (/t/<ticket>/…)');
    return ticket;
  }
  if (text.length === 0 || text.length > MAX_TICKET_CHARS) throw new TesseraError('ticket-malformed', 'the ticket is empty or too long');
  return text;
}

/** The content server a ticket is for, read from its header without opening it. */
export function ticketAudience(ticket: string): string {
  const bytes = ticket.length > MAX_TICKET_CHARS ? undefined : decodeStrictBase64url(ticket);
  if (!bytes || bytes.length < 7) throw new TesseraError('ticket-malformed');
  const length = bytes[5] ?? 0;
  const audience = bytes.length >= 6 + length ? bytes.toString('latin1', 6, 6 + length) : '';
  if (length < 1 || !isServerId(audience)) throw new TesseraError('ticket-malformed', 'the ticket names no valid content server');
  return audience;
}
