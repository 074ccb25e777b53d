import type { Completion } from '../../core/control/messages.js';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../observability/logger.js';
import type { ContentStore } from '../../ports/content-store.js';
import type { ConsumedTicketLedger } from '../../ports/consumed-ticket-ledger.js';
import type { AccelDeliveries } from './accel-deliveries.js';
import type { ContentServerConfig } from './config.js';
import type { ContentMetrics } from './content-metrics.js';
import type { DeliveryEvidence } from './delivery-evidence.js';
import type { KeyRing } from './key-ring.js';
import type { ServedItems } from './served-item.js';
import type { SlotTable } from './slot-table.js';
import type { TicketVerifier } from './ticket-verifier.js';
import type { TransferPacing } from './transfer-pacing.js';

/** Everything the public and control handlers share; built once by buildContentServer. */
export interface ContentServerContext {
  readonly config: ContentServerConfig;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: ContentMetrics;
  readonly store: ContentStore;
  readonly slots: SlotTable;
  readonly keys: KeyRing;
  readonly verifier: TicketVerifier;
  readonly served: ServedItems;
  /** When flushed bytes count as delivered (node mode). */
  readonly evidence: DeliveryEvidence;
  /** The per-ticket bandwidth limit; undefined when there is none. */
  readonly pacing: TransferPacing | undefined;
  /** Accel mode with nginx's delivery log: what nginx really sent. */
  readonly accel: AccelDeliveries | undefined;
  /** A ticket ended: queue its Completion for the reception. */
  ended(completion: Completion): void;
  /** Slots changed: the reception should hear about it soon. */
  slotsChanged(): void;
  /**
   * The ledger shared with other processes (Redis), consulted on a ticket's first use here;
   * undefined on the embedded defaults, where the local table is all there is.
   */
  readonly ledger: ConsumedTicketLedger | undefined;
  /** True while stopping: no new notices. */
  readonly draining: boolean;
}
