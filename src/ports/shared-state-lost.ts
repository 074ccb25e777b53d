// Thrown by a shared store that has lost what it held (a Redis restart without persistence)
// and must be refilled from the durable records before it answers again. Answering from the
// emptied store instead would be wrong in a way nobody sees: an empty waiting line admits a
// newcomer ahead of everyone who was waiting.

export type SharedStateName = 'waiting-line';

export class SharedStateLost extends Error {
  readonly what: SharedStateName;

  constructor(what: SharedStateName) {
    super(`the shared ${what} was lost (its store restarted) and must be rebuilt from the durable records`);
    this.name = 'SharedStateLost';
    this.what = what;
  }
}
