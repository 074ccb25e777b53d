import { UplinkShaper, type ShapedLink } from './uplink-shaper.js';

// The shaper as its own process (node dist/bench/selection/live/uplink-shaper-main.js LINKS-JSON),
// so that its 10 ms ticks do not wait behind the harness's hundreds of clients.

const links = JSON.parse(process.argv[2] ?? '[]') as ShapedLink[];
const shaper = new UplinkShaper(links);
await shaper.start();
process.stdout.write('ready\n');
const stop = (): void => {
  void shaper.stop().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
