import { createReadStream, openSync, readFileSync, read, statSync, stat } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { basename, join } from 'node:path';

// Reference servers for the benchmark: what plain Node does with no ticket at all.
//
//   node dist/bench/minimal-node-server.js <naive|tuned> <dir> <port> [chunk bytes]
//
// naive: what a first Node static server looks like — stat and createReadStream(...).pipe(res)
//        per request, default 64 KiB reads. The design notes' "minimal Node server" figures.
// tuned: small files answered from memory in one write; large files read from one open file
//        descriptor into a few reused buffers of <chunk bytes>, written with backpressure.
// Only the files present in <dir> at start are served (by base name); anything else is a 404.

const [mode, dir, portText, chunkText] = process.argv.slice(2);
if ((mode !== 'naive' && mode !== 'tuned') || dir === undefined || portText === undefined) {
  process.stderr.write('usage: minimal-node-server.js <naive|tuned> <dir> <port> [chunk bytes]\n');
  process.exit(2);
}
const chunkBytes = Number(chunkText ?? 1024 * 1024);
const SMALL = 64 * 1024;

interface File {
  readonly path: string;
  readonly size: number;
  readonly body: Buffer | undefined;
  readonly fd: number;
}

const files = new Map<string, File>();
for (const name of ['small.bin', 'big.bin']) {
  const path = join(dir, name);
  const size = statSync(path).size;
  files.set(`/${name}`, {
    path,
    size,
    body: mode === 'tuned' && size <= SMALL ? readFileSync(path) : undefined,
    fd: mode === 'tuned' ? openSync(path, 'r') : -1,
  });
}

function naive(file: File, res: ServerResponse): void {
  stat(file.path, (error, info) => {
    if (error) {
      res.writeHead(500).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': info.size });
    createReadStream(file.path).pipe(res);
  });
}

// One buffer per response, reused: read a chunk, write it, and read the next into the same
// buffer once the write callback says the kernel has the bytes. Allocating a fresh buffer per
// chunk (what a ReadStream does) costs an allocation and GC pressure per chunk; the kernel's
// socket buffer keeps the connection busy while the next chunk is read from the page cache.
function tunedLarge(file: File, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': file.size });
  const buffer = Buffer.allocUnsafe(Math.min(chunkBytes, file.size));
  let position = 0;
  let closed = false;
  res.once('close', () => (closed = true));
  const pump = (): void => {
    if (closed) return;
    if (position >= file.size) {
      res.end();
      return;
    }
    read(file.fd, buffer, 0, Math.min(buffer.length, file.size - position), position, (error, n) => {
      if (error || n === 0) {
        res.destroy(error ?? new Error('short read'));
        return;
      }
      position += n;
      res.write(n === buffer.length ? buffer : buffer.subarray(0, n), (writeError) => {
        if (!writeError) pump();
      });
    });
  };
  pump();
}

const server = createServer({ noDelay: true }, (req, res) => {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const file = files.get(q < 0 ? url : url.slice(0, q));
  if (file === undefined || req.method !== 'GET') {
    res.writeHead(404, { 'content-length': '0' }).end();
    return;
  }
  if (mode === 'naive') naive(file, res);
  else if (file.body !== undefined) {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': file.size });
    res.end(file.body);
  } else tunedLarge(file, res);
});
server.keepAliveTimeout = 65_000;
server.listen(Number(portText), '127.0.0.1', () => {
  process.stdout.write(`${basename(process.argv[1] ?? '')} ${mode} listening on ${portText}\n`);
});
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
