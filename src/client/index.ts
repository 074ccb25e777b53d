// The Tessera client library: the reception's API as typed calls, and ticket downloads that
// resume and verify. Depends on nothing but Node's built-ins.
export { ReceptionClient, type ReceptionClientOptions, type TicketReplacement, type CallOptions, type OrderOptions, type FetchFunction } from './reception-client.js';
export type { Content, TicketGrant, PlacedOrder, OrderPlaced, OrderStatus, LinePlace } from './reception-types.js';
export { linePlaceOf } from './reception-decoders.js';
export {
  TesseraClientError,
  isTesseraClientError,
  clientFailures,
  type ClientFailureCode,
  type KnownCode,
  type ProblemBody,
  type ResumeState,
} from './tessera-client-error.js';
export { downloadTicket, completeFromPart, type DownloadTicketOptions, type DownloadResult, type DownloadEvent } from './download-ticket.js';
export { fetchContent, type FetchContentOptions, type FetchContentResult, type FetchEvent } from './fetch-content.js';
export { placeOrderAdmitted, isBusyRefusal, checkDelayMs, type AdmissionEvent, type AdmissionOptions } from './place-order-admitted.js';
export { ProgressMeter, type DownloadProgress } from './progress-meter.js';
