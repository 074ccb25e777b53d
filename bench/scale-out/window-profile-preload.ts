import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

// `bench:scale-out`'s profiler, preloaded into every process of the topology with
// NODE_OPTIONS=--import=<this file>: only the processes whose arguments include
// TESSERA_BENCH_PROFILE_ROLE (e.g. `reception`) profile, and only the measured window —
// SIGUSR2 (re)starts the profile, dropping start-up and warm-up; SIGTERM (the stop) writes it
// to TESSERA_BENCH_PROFILE_DIR as <role>-<pid>.cpuprofile.

const role = process.env['TESSERA_BENCH_PROFILE_ROLE'];
const dir = process.env['TESSERA_BENCH_PROFILE_DIR'];

if (role !== undefined && dir !== undefined && process.argv.slice(2).includes(role)) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  let running = false;
  process.on('SIGUSR2', () => {
    const start = (): void => {
      session.post('Profiler.start');
      running = true;
    };
    if (running) session.post('Profiler.stop', start);
    else start();
  });
  // Before the process's own SIGTERM handler, which closes its listeners and exits.
  process.prependOnceListener('SIGTERM', () => {
    if (!running) return;
    session.post('Profiler.stop', (error, result) => {
      if (!error) writeFileSync(join(dir, `${role}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
