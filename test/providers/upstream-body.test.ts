/**
 * The upstream client's response body, read from undici's dispatch callbacks: every byte in order
 * however slowly it is read (the socket pauses rather than the router buffering without bound),
 * an abandoned body aborts the upstream request, a client that goes away aborts it at any point,
 * and an error status brings its body into the error.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { upstreamClient } from '../../core/upstream/http-client.ts';
import { upstreamScope } from '../helpers/upstream-scope.ts';

type Handler = (res: ServerResponse, closed: Promise<void>) => void;

async function upstream(t: Test, handle: Handler) {
  const server = createServer((req, res) => {
    const closed = new Promise<void>((resolve) => res.on('close', resolve));
    req.resume();
    req.on('end', () => handle(res, closed));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return upstreamClient(upstreamScope(t), { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, secrets: ['sk-upstream-secret-123456'] });
}

t.test('a large body read slowly arrives whole and in order, holding the upstream back', async (t) => {
  // 64 MB: far more than the kernel's socket buffers hold, so an upstream that is not paused would
  // have written it all while the reader dawdles over its first megabyte.
  const blocks = 1024;
  const chunk = (i: number) => Buffer.alloc(64 * 1024, String.fromCharCode(97 + (i % 26)));
  let written = 0;
  const http = await upstream(t, (res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const more = () => {
      while (written < blocks) {
        if (!res.write(chunk(written++))) return void res.once('drain', more);
      }
      res.end();
    };
    more();
  });
  const res = await http.request({ path: '/x', headers: {}, body: '{}' });
  let received = 0;
  let inOrder = true;
  let writtenWhileSlow = 0;
  for await (const piece of res.body) {
    // Each 64 KB block is one letter; pieces may split blocks but never reorder them.
    for (let i = 0; i < piece.length; i += 4096) if (piece[i] !== 97 + (Math.floor((received + i) / 65536) % 26)) inOrder = false;
    received += piece.length;
    if (received < 1024 * 1024) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      writtenWhileSlow = written;
    }
  }
  t.equal(received, blocks * 64 * 1024, 'all 64 MB');
  t.ok(inOrder, 'in order');
  t.ok(writtenWhileSlow < blocks / 2, `the upstream was held back while the reader was slow (${writtenWhileSlow} of ${blocks} blocks written)`);
});

t.test('leaving the body early aborts the upstream request', async (t) => {
  let closed: Promise<void> | undefined;
  const http = await upstream(t, (res, done) => {
    closed = done;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: 1\n\n');
    // never ends by itself
  });
  const res = await http.request({ path: '/x', headers: {}, body: '{}' });
  for await (const piece of res.body) {
    t.equal(piece.toString(), 'data: 1\n\n');
    break;
  }
  await closed;
  t.pass('the upstream saw its connection go');
});

t.test('an abort signal ends the request before headers and in the middle of the body', async (t) => {
  const http = await upstream(t, (res) => {
    setTimeout(() => {
      if (res.destroyed) return;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: 1\n\n');
    }, 100);
  });
  const before = new AbortController();
  setTimeout(() => before.abort(), 20);
  await t.rejects(http.request({ path: '/x', headers: {}, body: '{}', signal: before.signal }), { code: 'RK_CLIENT_CLOSED' });

  const during = new AbortController();
  const res = await http.request({ path: '/x', headers: {}, body: '{}', signal: during.signal });
  const iterator = res.body[Symbol.asyncIterator]();
  t.equal((await iterator.next()).value?.toString(), 'data: 1\n\n');
  const waiting = iterator.next();
  during.abort();
  await t.rejects(waiting, 'the pending read fails once the client has gone');

  const already = new AbortController();
  already.abort();
  await t.rejects(http.request({ path: '/x', headers: {}, body: '{}', signal: already.signal }), { code: 'RK_CLIENT_CLOSED' });
});

t.test('an error status becomes the mapped error, with the upstream message and no secret', async (t) => {
  const http = await upstream(t, (res) => {
    res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '7' });
    res.end(JSON.stringify({ error: { message: 'Rate limit reached for key sk-upstream-secret-123456', type: 'rate_limit_error' } }));
  });
  const err = await http.request({ path: '/x', headers: {}, body: '{}' }).then(
    () => undefined,
    (e: unknown) => e as { code: string; status: number; message: string },
  );
  t.match(err, { code: 'RK_UPSTREAM_ERROR', status: 429, message: /Rate limit reached/ });
  t.notMatch(err?.message ?? '', /sk-upstream-secret-123456/);
});

t.test('text(), json() and a connection reused afterwards', async (t) => {
  let n = 0;
  const http = await upstream(t, (res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ n: ++n, text: 'naïve ☃' }));
  });
  t.same(await (await http.request({ path: '/x', headers: {}, body: '{}' })).body.json(), { n: 1, text: 'naïve ☃' });
  t.equal(await (await http.request({ path: '/x', headers: {}, body: '{}' })).body.text(), '{"n":2,"text":"naïve ☃"}');
});

t.test('chunks that arrive together are read in one step; chunks that come apart, one by one', async (t) => {
  // Each event its own HTTP chunk, as an upstream flushing every token sends them: when they arrive
  // in one socket read the reader takes them at once; when they come apart it sees each as it comes.
  const events = Array.from({ length: 30 }, (_, i) => `data: {"n":${i}}\n\n`);
  let paced = false;
  /** In the paced case the upstream writes its next chunk only once the reader has taken the last. */
  let writeNext = () => {};
  const http = await upstream(t, (res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    if (!paced) {
      for (const event of events) res.write(event);
      res.end();
      return;
    }
    let i = 0;
    writeNext = () => (i < 3 ? res.write(events[i++]) : res.end());
    writeNext();
  });
  const read = async () => {
    const res = await http.request({ path: '/x', headers: {}, body: '{}' });
    const steps: string[] = [];
    for await (const chunk of res.body) {
      steps.push(chunk.toString('utf8'));
      if (paced) writeNext();
    }
    return steps;
  };
  const together = await read();
  t.equal(together.join(''), events.join(''), 'every byte, in order');
  t.ok(together.length <= 3, `30 chunks sent back to back are read in ${together.length} step(s)`);
  paced = true;
  t.same(await read(), events.slice(0, 3), 'chunks written one after another is read are read one at a time');
});

t.test('two reads waiting at once are answered in order; a body left while a read waits ends that read', async (t) => {
  let send: (text: string) => void = () => {};
  let finish = () => {};
  const http = await upstream(t, (res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.flushHeaders();
    send = (text) => void res.write(text);
    finish = () => res.end();
  });
  const res = await http.request({ path: '/x', headers: {}, body: '{}' });
  const iterator = res.body[Symbol.asyncIterator]();
  const first = iterator.next();
  const second = iterator.next();
  send('one');
  t.equal((await first).value?.toString(), 'one');
  send('two');
  t.equal((await second).value?.toString(), 'two', 'the second read got the next bytes, neither was lost');
  finish();
  t.equal((await iterator.next()).done, true);

  const left = await http.request({ path: '/x', headers: {}, body: '{}' });
  const reader = left.body[Symbol.asyncIterator]();
  const waiting = reader.next();
  await reader.return!();
  t.equal((await waiting).done, true, 'the waiting read ends instead of hanging');
});

t.test('a reader that falls behind gets what piled up in steps of at most 64 KB', async (t) => {
  const piece = (i: number) => Buffer.alloc(8 * 1024, String.fromCharCode(97 + (i % 26)));
  const http = await upstream(t, (res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    for (let i = 0; i < 40; i++) res.write(piece(i));
    res.end();
  });
  const res = await http.request({ path: '/x', headers: {}, body: '{}' });
  await new Promise((resolve) => setTimeout(resolve, 200)); // all 320 KB arrive meanwhile
  const steps: Buffer[] = [];
  for await (const chunk of res.body) steps.push(chunk);
  t.same(Buffer.concat(steps), Buffer.concat(Array.from({ length: 40 }, (_, i) => piece(i))), 'every byte, in order');
  t.ok(steps.length >= 5, `320 KB in ${steps.length} steps`);
  t.ok(steps.every((step) => step.length <= 64 * 1024), 'no step joins more than 64 KB (a larger copy faults in fresh pages)');
});
