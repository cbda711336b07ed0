/**
 * How providers connect: through a proxy (configured, or from HTTPS_PROXY / HTTP_PROXY with
 * NO_PROXY) over one pooled agent, kept alive, and over HTTP/2 with a custom CA when asked.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createSecureServer } from 'node:http2';
import { connect, createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { fixtureReply, fixtureText } from '../helpers/fixtures.ts';
import { mockUpstream } from '../helpers/mock-upstream.ts';
import { startTestRouter, testDir } from '../helpers/router.ts';
import { selfSignedCert } from '../helpers/tls.ts';

/** A minimal HTTP CONNECT proxy that counts the tunnels it opens. */
async function connectProxy(t: { teardown(fn: () => unknown): void }) {
  const state = { tunnels: 0 };
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    client.once('data', (head) => {
      const match = /^CONNECT ([^:\s]+):(\d+) HTTP/.exec(head.toString());
      if (!match) return void client.destroy();
      state.tunnels++;
      const upstream = connect(Number(match[2]), match[1], () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        client.pipe(upstream).pipe(client);
      });
      sockets.add(upstream);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, state };
}

/** Puts environment variables back as they were (assigning undefined would store "undefined"). */
function restoreEnv(...names: string[]): () => void {
  const saved = names.map((name) => [name, process.env[name]] as const);
  return () => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}

const config = (base: string, extra = '') => `providers:\n  up:\n    use: openai\n    base_url: ${base}\n    models: [m]${extra}\npipeline:\n  - use: router\n    with: { default: up/m }\n`;
const ask = async (url: string) => {
  const res = await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', messages: [{ role: 'user', content: 'hi' }] }) });
  return { status: res.statusCode, text: await res.body.text() };
};

t.test('a configured proxy carries every request over one kept-alive tunnel', async (t) => {
  const upstream = await mockUpstream(() => fixtureReply('providers/openai/chat-completion-ratelimit-headers.json'));
  t.teardown(() => upstream.close());
  const proxy = await connectProxy(t);
  const { url } = await startTestRouter(t, config(`${upstream.url}/v1`, `\n    proxy: ${proxy.url}`));
  for (let i = 0; i < 3; i++) t.equal((await ask(url)).status, 200);
  t.equal(upstream.requests.length, 3);
  t.equal(proxy.state.tunnels, 1, 'one tunnel, reused');
});

t.test('HTTP_PROXY from the environment is followed, and NO_PROXY bypasses it', async (t) => {
  const upstream = await mockUpstream(() => fixtureReply('providers/openai/chat-completion-ratelimit-headers.json'));
  t.teardown(() => upstream.close());
  const proxy = await connectProxy(t);
  t.teardown(restoreEnv('HTTP_PROXY', 'NO_PROXY'));
  process.env.HTTP_PROXY = proxy.url;
  delete process.env.NO_PROXY;
  const viaProxy = await startTestRouter(t, config(`${upstream.url}/v1`));
  t.equal((await ask(viaProxy.url)).status, 200);
  t.equal(proxy.state.tunnels, 1);

  process.env.NO_PROXY = '127.0.0.1';
  const direct = await startTestRouter(t, config(`${upstream.url}/v1`, '\n    connections: 2'));
  t.equal((await ask(direct.url)).status, 200);
  t.equal(proxy.state.tunnels, 1, 'NO_PROXY: no new tunnel');
});

t.test('an explicit `proxy: false` ignores the environment', async (t) => {
  const upstream = await mockUpstream(() => fixtureReply('providers/openai/chat-completion-ratelimit-headers.json'));
  t.teardown(() => upstream.close());
  const proxy = await connectProxy(t);
  t.teardown(restoreEnv('HTTP_PROXY'));
  process.env.HTTP_PROXY = proxy.url;
  const { url } = await startTestRouter(t, config(`${upstream.url}/v1`, '\n    proxy: false'));
  t.equal((await ask(url)).status, 200);
  t.equal(proxy.state.tunnels, 0);
});

t.test('http2: true talks HTTP/2 to a TLS upstream trusted through tls.ca_file', async (t) => {
  const dir = testDir(t);
  const { key, cert } = selfSignedCert(dir);
  const versions: string[] = [];
  const body = fixtureText('providers/openai/chat-completion-ratelimit-headers.json');
  const server = createSecureServer({ key: readFileSync(key), cert: readFileSync(cert), allowHTTP1: true }, (req, res) => {
    versions.push(req.httpVersion);
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const base = `https://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  writeFileSync(join(dir, 'note.txt'), 'the CA path is relative to router.yaml');
  const h2 = await startTestRouter(t, config(base, `\n    http2: true\n    tls: { ca_file: ${cert} }`));
  t.match(await ask(h2.url), { status: 200, text: /Paris/ });
  const h1 = await startTestRouter(t, config(base, `\n    tls: { ca_file: ${cert} }`));
  t.match(await ask(h1.url), { status: 200 });
  t.same(versions, ['2.0', '1.1']);

  const untrusted = await startTestRouter(t, config(base, '\n    connections: 3'));
  const refused = await ask(untrusted.url);
  t.equal(refused.status, 502, 'an unknown certificate is refused');
  t.match(refused.text, /Could not reach up/);
});
