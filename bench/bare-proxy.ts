/**
 * The floor: the least any Node.js gateway can do with a request. It reads the body, forwards it
 * with undici to the upstream, and streams the answer back: no routing, no parsing, no
 * translation, no logging. Measured in the same run, it shows how much of the router's cost is
 * Node's HTTP stack and the machine rather than router-kernel (a ratio no Node gateway can beat).
 *
 *   node --import tsx bench/bare-proxy.ts --upstream http://127.0.0.1:PORT --port 0
 *
 * Prints `listening <port>` when ready.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { Agent } from 'undici';

const { values } = parseArgs({ options: { upstream: { type: 'string' }, port: { type: 'string', default: '0' } } });
if (!values.upstream) throw new Error('--upstream is required');
const origin = values.upstream;
const agent = new Agent({ connections: 64, keepAliveTimeout: 60_000 });

const server = createServer(async (req, res) => {
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const upstream = await agent.request({ origin, path: req.url ?? '/', method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.concat(chunks) });
    res.writeHead(upstream.statusCode, { 'content-type': String(upstream.headers['content-type'] ?? 'application/json') });
    for await (const chunk of upstream.body) res.write(chunk);
    res.end();
  } catch {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  }
});
server.keepAliveTimeout = 65_000;
server.listen(Number(values.port), '127.0.0.1', () => process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`));
process.on('SIGTERM', () => process.exit(0));
