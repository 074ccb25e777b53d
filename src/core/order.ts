import { TesseraError } from './errors.js';

// An order's life. Every order is written in `received` before anything else happens, and a
// ticket URL is returned only after the order is `ticketed`.
//
//   received ──────────────► ticketed ──► completed
//      │  └──► queued ──────────┘  └─────► expired   (the window closed before every byte was delivered)
//      │         └─────────────────────────► expired   (left the line: did not come back in time)
//      └──────► rejected                               (refused outright: the line was full)

export const ORDER_STATES = ['received', 'queued', 'ticketed', 'completed', 'expired', 'rejected'] as const;
export type OrderState = (typeof ORDER_STATES)[number];

const transitions: Readonly<Record<OrderState, readonly OrderState[]>> = {
  received: ['queued', 'ticketed', 'rejected'],
  queued: ['ticketed', 'expired'],
  ticketed: ['completed', 'expired'],
  completed: [],
  expired: [],
  rejected: [],
};

export function canTransition(from: OrderState, to: OrderState): boolean {
  return transitions[from].includes(to);
}

export function assertTransition(from: OrderState, to: OrderState): void {
  if (!canTransition(from, to)) throw new TypeError(`order cannot go from ${from} to ${to}`);
}

export function isFinal(state: OrderState): boolean {
  return transitions[state].length === 0;
}

export function orderNotFound(id: string): TesseraError {
  return new TesseraError('order-not-found', `no order ${id}`);
}
