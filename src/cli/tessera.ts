#!/usr/bin/env node
// The `tessera` command. Each subcommand lives in src/cli/commands/<name>.ts and exports
// `run(argv): Promise<number>` (the exit code).

interface Command {
  readonly summary: string;
  readonly load: () => Promise<{ run(argv: string[]): Promise<number> }>;
}

const commands: Record<string, Command> = {
  up: { summary: 'start a whole topology on this machine (default: reception + 3 content servers)', load: () => import('./commands/up.js') },
  serve: { summary: 'run one server role: serve reception | serve content', load: () => import('./commands/serve.js') },
  content: { summary: 'manage the catalogue: content add FILE [--title T], content list', load: () => import('./commands/content.js') },
  get: { summary: 'order a content item and download it: get CONTENT_ID [-o FILE]', load: () => import('./commands/get.js') },
  keys: { summary: 'ticket keys: keys rotate', load: () => import('./commands/keys.js') },
  status: { summary: 'content servers: health, drain, load, slots, throughput (live; --once, --json)', load: () => import('./commands/status.js') },
  drain: { summary: 'stop new tickets to a content server while it finishes: drain SERVER [--wait]', load: () => import('./commands/drain.js') },
  undrain: { summary: 'let a drained content server take new tickets again: undrain SERVER', load: () => import('./commands/undrain.js') },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(9)} ${c.summary}`);
  return `usage: tessera <command> [options]\n\n${lines.join('\n')}\n\nRun tessera <command> --help for a command's options.\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`tessera: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  const module = await command.load();
  return module.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`tessera: ${error instanceof Error ? error.message : String(error)}\n`);
    // Exit now rather than when the event loop empties: a server that failed half-way through
    // starting (its public port taken, say) may hold a listener, a database pool and timers
    // that would keep a process that does nothing alive for ever.
    process.exit(1);
  },
);
