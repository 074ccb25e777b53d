import type { Clock } from '../../core/clock.js';
import { activeEpoch, deriveTicketKey, liveKidsOf, serverKeySet, serverKeySetVersion, type KeyEpoch, type ServerKeySet } from '../../core/ticket/ticket-keys.js';
import type { TicketKey } from '../../core/ticket/ticket.js';
import type { KeyStore } from '../../ports/persistence.js';

// The reception's ticket keys: epochs live in the database (so several receptions agree);
// the secrets are derived from the root secret and never stored.

/** A superseded key is used as a fallback only if it stays accepted at least this long. */
const MIN_FALLBACK_VALIDITY_MS = 60_000;

export class Keyring {
  readonly #store: KeyStore;
  readonly #root: Buffer;
  readonly #clock: Clock;
  #epochs: readonly KeyEpoch[] = [];
  readonly #derived = new Map<string, TicketKey>();

  constructor(store: KeyStore, rootSecret: Buffer, clock: Clock) {
    this.#store = store;
    this.#root = rootSecret;
    this.#clock = clock;
  }

  async start(): Promise<void> {
    await this.#store.ensureInitial(this.#clock.now());
    await this.refresh();
  }

  async refresh(): Promise<void> {
    this.#epochs = await this.#store.listEpochs();
  }

  /** Starts minting with a new kid; the previous one is accepted for `graceS` more seconds. */
  async rotate(graceS: number): Promise<number> {
    await this.refresh();
    const newKid = Math.max(0, ...this.#epochs.map((e) => e.kid)) + 1;
    const now = this.#clock.now();
    await this.#store.rotate(newKid, now, now + graceS * 1000);
    await this.refresh();
    return newKid;
  }

  /**
   * The key to mint a ticket for `serverId` with: the active one once the server holds it.
   * Right after a rotation a server learns the new key only with its next load report, so
   * until then its tickets are minted with the newest still-accepted key it does hold.
   */
  mintingKey(serverId: string, serverKeySetVersion?: string): TicketKey {
    const active = activeEpoch(this.#epochs);
    if (!active) throw new Error('no active ticket key epoch; Keyring.start() was not awaited');
    let epoch = active;
    if (serverKeySetVersion !== undefined) {
      const held = new Set(liveKidsOf(serverKeySetVersion));
      if (!held.has(active.kid)) {
        const now = this.#clock.now();
        const fallback = this.#epochs
          .filter((e) => held.has(e.kid) && (e.retiresAt === null || e.retiresAt > now + MIN_FALLBACK_VALIDITY_MS))
          .sort((a, b) => b.kid - a.kid)[0];
        if (fallback) epoch = fallback;
      }
    }
    const cacheKey = `${epoch.kid}/${serverId}`;
    let key = this.#derived.get(cacheKey);
    if (!key) {
      key = deriveTicketKey(this.#root, epoch.kid, serverId);
      this.#derived.set(cacheKey, key);
    }
    return key;
  }

  /** The key of `kid` for `serverId`, to open a ticket a client hands back; 'retired' or undefined as a content server would see it. */
  keyFor(serverId: string, kid: number): TicketKey | 'retired' | undefined {
    const epoch = this.#epochs.find((e) => e.kid === kid);
    if (!epoch) return undefined;
    if (epoch.retiresAt !== null && epoch.retiresAt <= this.#clock.now()) return 'retired';
    // Not cached like mintingKey's: the server ID comes from a client's ticket, and a cache
    // keyed on it would grow with whatever names clients make up.
    return deriveTicketKey(this.#root, kid, serverId);
  }

  /** The version of the key set every server should hold now (cheap: no key is derived). */
  keySetVersion(): string {
    return serverKeySetVersion(this.#epochs, this.#clock.now());
  }

  keySetFor(serverId: string): ServerKeySet {
    return serverKeySet(this.#root, serverId, this.#epochs, this.#clock.now());
  }

  epochs(): readonly KeyEpoch[] {
    return this.#epochs;
  }
}
