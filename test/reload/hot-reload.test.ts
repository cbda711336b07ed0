/**
 * Editing router.yaml while the router runs: changes apply without a restart, requests in flight
 * finish on the config they started with, and a broken edit never replaces a good config.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { startTestRouter } from '../helpers/router.ts';
import { waitFor } from '../helpers/wait.ts';

const config = (reply: string, extra = '') => `
providers:
  mock:
    use: mock
    models: [m]
    reply: "${reply}"
    chunk_words: 1
    chunk_delay: 20ms${extra}
pipeline:
  - use: router
    with: { default: mock/m }
`;

async function answer(url: string, stream = false): Promise<{ status: number; text: string }> {
  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', max_tokens: 500, stream, messages: [{ role: 'user', content: 'hi' }] }) });
  const body = await res.body.text();
  if (res.statusCode !== 200) return { status: res.statusCode, text: body };
  if (!stream) return { status: 200, text: (JSON.parse(body) as { content: Array<{ text: string }> }).content[0].text };
  return { status: 200, text: sseText(body) };
}

function sseText(body: string): string {
  return [...body.matchAll(/"text_delta","text":("(?:[^"\\]|\\.)*")/g)].map((m) => JSON.parse(m[1]) as string).join('');
}

t.test('saving router.yaml applies the change without a restart', async (t) => {
  const r = await startTestRouter(t, config('before the edit'), { watch: true });
  t.equal((await answer(r.url)).text, 'before the edit');
  r.writeConfig(config('after the edit'));
  await waitFor(async () => (await answer(r.url)).text === 'after the edit', 5000, 'the new reply');
  t.equal(r.router.generation().id, 2);
  t.ok(r.logs.some((l) => /config reloaded \(generation 2\)/.test(l.msg) && /file changed/.test(l.reason)));
});

t.test('a stream that started before a reload finishes on the old config', async (t) => {
  const oldReply = Array.from({ length: 40 }, (_, i) => `old${i}`).join(' ');
  const r = await startTestRouter(t, config(oldReply), { watch: true });
  const res = await request(`${r.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', max_tokens: 500, stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
  let body = '';
  const reading = (async () => {
    for await (const chunk of res.body) body += chunk.toString();
  })();
  await waitFor(() => body.includes('old3'), 3000, 'the stream to begin');
  r.writeConfig(config('new reply'));
  await waitFor(() => r.router.generation().id === 2, 5000, 'the reload');
  t.equal((await answer(r.url)).text, 'new reply', 'new requests use the new config');
  t.notOk(body.includes('message_stop'), 'the old stream was still running during the reload');
  await reading;
  t.equal(sseText(body), oldReply, 'the old stream delivered its whole answer');
  t.match(body, /event: message_stop/);
});

t.test('a broken edit is rejected with file, line and path, and the old config keeps serving', async (t) => {
  const r = await startTestRouter(t, config('good'), { watch: true });
  writeFileSync(r.file, config('good', '\n    latency: whenever'));
  await waitFor(() => r.logs.find((l) => /config rejected/.test(l.msg)), 5000, 'the rejection');
  const rejection = r.logs.find((l) => /config rejected/.test(l.msg))!;
  t.match(rejection.msg, /router\.yaml:9:5 providers\.mock\.latency: must be a duration/);
  t.equal((await answer(r.url)).text, 'good');
  t.equal(r.router.generation().id, 1);

  writeFileSync(r.file, 'providers: [oops');
  await waitFor(() => r.logs.filter((l) => /config rejected/.test(l.msg)).length === 2, 5000, 'the second rejection');
  t.equal((await answer(r.url)).text, 'good');

  writeFileSync(r.file, config('good').replace('default: mock/m', 'default: 42'));
  await waitFor(() => r.logs.filter((l) => /config rejected/.test(l.msg)).length === 3, 5000, 'a plugin option rejected');

  r.writeConfig(config('fixed'));
  await waitFor(async () => (await answer(r.url)).text === 'fixed', 5000, 'the fixed config');
  t.equal(r.router.generation().id, 2, 'rejected configs use up no generation number');
});

t.test('under steady load, reloads (good and broken) never fail a request', async (t) => {
  const r = await startTestRouter(t, config('v0', '\n    chunk_delay: 0'.replace('\n    chunk_delay: 0', '')), { watch: false });
  const failures: string[] = [];
  let done = 0;
  let stop = false;
  const client = async (stream: boolean) => {
    while (!stop) {
      const res = await answer(r.url, stream).catch((err: Error) => ({ status: 0, text: err.message }));
      if (res.status !== 200 || !/^v\d+$/.test(res.text)) failures.push(`${res.status} ${res.text}`);
      done++;
    }
  };
  const clients = [client(false), client(true), client(false), client(true)];
  for (let i = 1; i <= 8; i++) {
    r.writeConfig(i % 2 === 0 ? 'providers: {{{ broken' : config(`v${i}`));
    await r.router.reload(`edit ${i}`);
    await new Promise((resolve) => setTimeout(resolve, 60));
  }
  stop = true;
  await Promise.all(clients);
  t.same(failures, [], 'no request failed');
  t.ok(done > 20, `${done} requests ran during the reloads`);
  t.equal(r.router.generation().id, 5, 'four good edits made four new generations');
});

t.test('editing a local plugin file reloads it', async (t) => {
  const plugin = (value: string) => `export default {
  id: 'middleware.stamp', kind: 'middleware', version: '1.0.0',
  create() { return { async handle(ctx: any, next: () => Promise<void>) { await next(); ctx.setHeader('x-stamp', '${value}'); } }; },
};\n`;
  const yaml = 'providers:\n  mock:\n    use: mock\n    models: [m]\npipeline:\n  - use: ./stamp.ts\n  - use: router\n    with: { default: mock/m }\n';
  const r = await startTestRouter(t, yaml, { watch: true, files: { 'stamp.ts': plugin('one') } });
  const stamp = async (url = r.url) => {
    const res = await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', messages: [{ role: 'user', content: 'hi' }] }) });
    await res.body.dump();
    return res.headers['x-stamp'];
  };
  t.equal(await stamp(), 'one');
  writeFileSync(join(r.dir, 'stamp.ts'), plugin('two'));
  await waitFor(async () => (await stamp()) === 'two', 5000, 'the edited plugin');
  // Edited the moment the router is up: the plugin files are watched before it says it is ready.
  const early = await startTestRouter(t, yaml, { watch: true, files: { 'stamp.ts': plugin('one') } });
  writeFileSync(join(early.dir, 'stamp.ts'), plugin('three'));
  await waitFor(async () => (await stamp(early.url)) === 'three', 5000, 'the plugin edited right after start-up');
});
