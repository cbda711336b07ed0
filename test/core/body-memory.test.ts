/**
 * Pooled memory for large request bodies (core/body-memory.ts): reused only once nothing can read
 * it, kept from reuse by whoever takes the body, and by an upstream exchange still sending it.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createSecureServer } from 'node:http2';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { BodyMemory, bodyMemory } from '../../core/body-memory.ts';
import { upstreamClient } from '../../core/upstream/http-client.ts';
import { testDir } from '../helpers/router.ts';
import { selfSignedCert } from '../helpers/tls.ts';
import { upstreamScope } from '../helpers/upstream-scope.ts';

/** `size` bytes of `fill`'s letter, cut the way a socket delivers them (64 KB reads). */
function received(size: number, fill: string): Buffer[] {
  const whole = Buffer.alloc(size, fill);
  const chunks: Buffer[] = [];
  for (let at = 0; at < size; at += 65_536) chunks.push(Buffer.from(whole.subarray(at, at + 65_536)));
  return chunks;
}

t.test('small bodies, bodies in one chunk and a pool turned off are joined as before', async (t) => {
  const memory = new BodyMemory();
  const small = memory.join([Buffer.from('{"a":'), Buffer.from('1}')], 7, true);
  t.equal(small.body.toString(), '{"a":1}');
  t.equal(small.lease, undefined, 'under 64 KB: no pooled memory');
  const one = Buffer.alloc(100_000, 'x');
  t.equal(memory.join([one], one.length, true).body, one, 'one chunk is the body itself');
  const off = memory.join(received(200_000, 'a'), 200_000, false);
  t.equal(off.lease, undefined, 'pooling off');
  t.equal(off.body.toString(), 'a'.repeat(200_000));
});

t.test("a large body's memory is reused by the next once its request released it", async (t) => {
  const memory = new BodyMemory();
  const first = memory.join(received(300_000, 'a'), 300_000, true);
  t.equal(first.body.toString(), 'a'.repeat(300_000), 'the bytes joined in order');
  t.ok(first.lease, 'pooled');
  const during = memory.join(received(300_000, 'b'), 300_000, true);
  t.not(during.body.buffer, first.body.buffer, 'memory still lent is not given to another body');
  first.lease!.end();
  const next = memory.join(received(290_000, 'c'), 290_000, true);
  t.equal(next.body.buffer, first.body.buffer, 'the released memory is reused (same size class)');
  t.equal(next.body.length, 290_000, 'the body is exactly as long as received');
  t.equal(next.body.toString(), 'c'.repeat(290_000));
  t.equal(during.body.toString(), 'b'.repeat(300_000), 'the body still lent is untouched');
  t.equal(memory.stats().reused, 1);
});

t.test('memory an upstream exchange held is left to the collector when the exchange did not end cleanly', async (t) => {
  const memory = new BodyMemory();
  const failed = memory.join(received(300_000, 'a'), 300_000, true);
  const unpin = memory.pin([failed.body.subarray(0, 10), failed.body.subarray(10)]);
  t.ok(unpin, 'views of a lent body are held');
  failed.lease!.end();
  unpin!(false);
  unpin!(false);
  const h2 = memory.join(received(300_000, 'b'), 300_000, true);
  memory.pin(h2.body, true)!(true);
  h2.lease!.end();
  const next = memory.join(received(300_000, 'c'), 300_000, true);
  t.not(next.body.buffer, failed.body.buffer, 'not reused after a failed exchange');
  t.not(next.body.buffer, h2.body.buffer, 'nor after an HTTP/2 one');
  t.equal(failed.body.toString(), 'a'.repeat(300_000));
  t.equal(memory.stats().reused, 0);
});

t.test('a lease is given back once, however often it is ended or released', async (t) => {
  const memory = new BodyMemory();
  const body = memory.join(received(300_000, 'a'), 300_000, true);
  body.lease!.end();
  body.lease!.end();
  body.lease!.release();
  t.ok(body.lease!.ended);
  t.equal(memory.stats().freeBytes, 512 * 1024, 'one slab free, not two');
  const [x, y] = [memory.join(received(300_000, 'b'), 300_000, true), memory.join(received(300_000, 'c'), 300_000, true)];
  t.not(x.body.buffer, y.body.buffer, 'two bodies never share a slab');
});

t.test('free memory is bounded, and the idle collection lets it all go', async (t) => {
  const memory = new BodyMemory(1024 * 1024);
  const bodies = [0, 1, 2].map(() => memory.join(received(300_000, 'a'), 300_000, true));
  for (const { lease } of bodies) lease!.end();
  t.equal(memory.stats().freeBytes, 1024 * 1024, 'two 512 KB slabs kept, the third let go');
  memory.dropFree();
  t.equal(memory.stats().freeBytes, 0);
  const after = memory.join(received(300_000, 'b'), 300_000, true);
  t.notOk(bodies.some(({ body }) => body.buffer === after.body.buffer), 'nothing dropped is reused');
});

t.test('an upstream exchange sending views of a pooled body holds it until undici is done', async (t) => {
  // An upstream that reads the body only after a while, so undici is still writing it when the
  // request that owned it has released it.
  const server = createServer((req, res) => {
    req.pause();
    setTimeout(async () => {
      const hash = createHash('sha256');
      for await (const chunk of req) hash.update(chunk as Buffer);
      res.end(hash.digest('hex'));
    }, 300);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const http = upstreamClient(upstreamScope(t), { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });

  const size = 4 * 1024 * 1024; // more than loopback sockets take at once
  const first = bodyMemory.join(received(size, 'a'), size, true);
  const expected = createHash('sha256').update(first.body).digest('hex');
  const sending = http.request({ path: '/', headers: {}, body: [first.body.subarray(0, 10), first.body.subarray(10)] });
  first.lease!.end(); // the client's request is over; the upstream has not read the body yet
  const second = bodyMemory.join(received(size, 'b'), size, true);
  t.not(second.body.buffer, first.body.buffer, 'memory undici may still send is not reused');
  const res = await sending;
  t.equal(await res.body.text(), expected, 'the upstream received the body as it was');
  second.lease!.end();
  const reusedBefore = bodyMemory.stats().reused;
  const again = [bodyMemory.join(received(size, 'c'), size, true), bodyMemory.join(received(size, 'd'), size, true)];
  t.equal(bodyMemory.stats().reused, reusedBefore + 2, 'once the exchange is over, both slabs are free again');
  t.ok(again.some(({ body }) => body.buffer === first.body.buffer));
  t.equal(bodyMemory.pin([Buffer.alloc(10)]), undefined, 'buffers outside the pool are not held');
});

/** A plain HTTP/1.1 upstream that answers as soon as it has the headers, and reads the body only later. */
async function earlyAnswerUpstream(t: Test, status: '200 OK' | '429 Too Many Requests'): Promise<{ url: string; received: () => Promise<string> }> {
  let bytes = '';
  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));
  const server = createNetServer((socket) => {
    let head = Buffer.alloc(0);
    let answered = false;
    socket.on('data', (data: Buffer) => {
      if (!answered) {
        head = Buffer.concat([head, data]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        answered = true;
        socket.write(`HTTP/1.1 ${status}\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\n{}`);
        socket.pause();
        setTimeout(() => socket.resume(), 300);
        data = head.subarray(end + 4);
      }
      bytes += data.toString('latin1');
    });
    socket.on('close', finished);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received: async () => (await Promise.race([done, sleep(3000)]), bytes) };
}

for (const [status, shape] of [['429 Too Many Requests', 'one buffer'], ['429 Too Many Requests', 'chunks'], ['200 OK', 'one buffer'], ['200 OK', 'chunks']] as const) {
  t.test(`an upstream that answers ${status.slice(0, 3)} before reading the body never gets another body's bytes (${shape})`, async (t) => {
    const upstream = await earlyAnswerUpstream(t, status);
    const http = upstreamClient(upstreamScope(t), { baseUrl: upstream.url });
    const size = 8 * 1024 * 1024;
    const first = bodyMemory.join(received(size, 'a'), size, true);
    const body = shape === 'one buffer' ? first.body : [first.body.subarray(0, 10), first.body.subarray(10)];
    if (status === '200 OK') t.equal(await (await http.request({ path: '/', headers: {}, body })).body.text(), '{}');
    else await t.rejects(http.request({ path: '/', headers: {}, body }), { code: 'RK_UPSTREAM_ERROR' });
    first.lease!.end(); // the answer was relayed: the client's request is over
    const second = bodyMemory.join(received(size, 'b'), size, true);
    if (status !== '200 OK') t.not(second.body.buffer, first.body.buffer, 'after an error answer the memory is not reused');
    t.notOk((await upstream.received()).includes('b'), 'nothing of the second body reached the first upstream');
    second.lease!.end();
  });
}

t.test('an HTTP/2 upstream that answers 200 before reading the body never gets another body\'s bytes', async (t) => {
  const { key, cert } = selfSignedCert(testDir(t));
  let bytes = '';
  const server = createSecureServer({ key: readFileSync(key), cert: readFileSync(cert) });
  server.on('stream', (stream) => {
    stream.pause();
    stream.respond({ ':status': 200, 'content-type': 'application/json' });
    stream.end('{}');
    setTimeout(() => {
      stream.on('data', (data: Buffer) => (bytes += data.toString('latin1')));
      stream.resume();
    }, 300);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const http = upstreamClient(upstreamScope(t), { baseUrl: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, http2: true, caFile: cert });
  const size = 2 * 1024 * 1024;
  const first = bodyMemory.join(received(size, 'a'), size, true);
  const res = await http.request({ path: '/', headers: {}, body: first.body });
  t.equal(await res.body.text(), '{}', 'answered in full before the body was read');
  first.lease!.end();
  const second = bodyMemory.join(received(size, 'b'), size, true);
  t.not(second.body.buffer, first.body.buffer, 'memory sent over HTTP/2 is never reused');
  await sleep(1000);
  t.notOk(bytes.includes('b'), 'nothing of the second body reached the first upstream');
  second.lease!.end();
});
