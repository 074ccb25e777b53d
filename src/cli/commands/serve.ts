const HELP = `usage: tessera serve reception | tessera serve content

Runs one server role in the foreground, configured by environment variables
(see docs/configuration.md). Stops gracefully on SIGINT and SIGTERM.
`;

export async function run(argv: string[]): Promise<number> {
  const [role] = argv;
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
  await new Promise<void>((resolve) => {
    const done = (): void => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  await stop();
  return 0;
}
