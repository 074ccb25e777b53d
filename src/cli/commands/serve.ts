const HELP = `usage: tessera serve reception | tessera serve content

Runs one server role in the foreground, configured by environment variables
(see docs/configuration.md). Stops gracefully on SIGINT and SIGTERM.
`;

export async function run(argv: string[]): Promise<number> {
  const [role] = argv;
  // Listening before the server starts: a SIGTERM during start-up (an orchestrator giving up on
  // it, say) waits for the start to finish and then stops gracefully, instead of killing it
  // half-started with Node's default action.
  const signalled = new Promise<void>((resolve) => {
    const done = (): void => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  let stop: () => Promise<void>;
  if (role === 'reception') {
    const { runReceptionFromEnv } = await import('../../servers/reception/main.js');
    stop = (await runReceptionFromEnv(process.env)).stop;
  } else if (role === 'content') {
    const { runContentServerFromEnv } = await import('../../servers/content/main.js');
    stop = (await runContentServerFromEnv(process.env)).stop;
  } else {
    process.stderr.write(HELP);
    return 2;
  }
  await signalled;
  await stop();
  return 0;
}
