import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

// `bench:crowd --profile`: preloaded into every process of the topology with
// NODE_OPTIONS=--import=<this file> (node refuses --cpu-prof there), it profiles only the one
// whose arguments name TESSERA_BENCH_PROFILE_ROLE (e.g. `serve reception`) and writes a
// .cpuprofile into TESSERA_BENCH_PROFILE_DIR when that process is asked to stop.

const role = process.env['TESSERA_BENCH_PROFILE_ROLE'];
const dir = process.env['TESSERA_BENCH_PROFILE_DIR'];

if (role !== undefined && dir !== undefined && process.argv.slice(2).includes(role)) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  // Before the process's own SIGTERM handler, which closes its listeners and exits.
  process.prependOnceListener('SIGTERM', () => {
    session.post('Profiler.stop', (error, result) => {
      if (!error) writeFileSync(join(dir, `${role}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
