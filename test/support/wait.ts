// Waiting for a condition with a deadline, never for a fixed time: CI runs the suite on a busy
// machine, where a fixed sleep is either too short (flaky) or too long (slow).

/**
 * Polls `probe` every `everyMs` until it returns something other than `undefined`, and returns
 * that. Past `timeoutMs` it throws, naming `what` (a function is called then, so the message can
 * show the last thing seen).
 */
export async function waitFor<T>(
  what: string | (() => string),
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
