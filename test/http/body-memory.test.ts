/**
 * Large request bodies in reused memory, through a real router: what a plugin keeps stays as it
 * was, and every upstream receives its own client's bytes while many large requests overlap.
 */
import t, { type Test } from 'tap';
import { request } from 'undici';
import { bodyMemory } from '../../core/body-memory.ts';
import { mockUpstream } from '../helpers/mock-upstream.ts';
import { startTestRouter } from '../helpers/router.ts';

/** A ~200 KB Anthropic request whose text is its own (`n`), so two bodies never match. */
function largeBody(model: string, n: number): string {
  const text = `request ${n}: ` + `${n} `.repeat(200_000 / (String(n).length + 1));
  return JSON.stringify({ model, max_tokens: 16, messages: [{ role: 'user', content: text }] });
}

async function post(url: string, body: string) {
  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const text = await res.body.text();
  return { status: res.statusCode, text };
}

async function setup(t: Test, extra = '', files?: Record<string, string>, plugins = '') {
  const upstream = await mockUpstream(() => ({ body: JSON.stringify({ id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [{ type: 'text', text: 'ok' }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 1, output_tokens: 1 } }), headers: { 'content-type': 'application/json' } }));
  t.teardown(() => upstream.close());
  const router = await startTestRouter(
    t,
    `${extra}
providers:
  up:
    use: anthropic
    base_url: ${upstream.url}
    api_key: k
    models: [same, { name: renamed, upstream: upstream-name }]
pipeline:
  - use: router
    with: { default: up/same }${plugins}
`,
    { files },
  );
  return { upstream, ...router };
}

t.test('overlapping large passthrough requests each reach the upstream as their client sent them', async (t) => {
  const { url, upstream } = await setup(t);
  const reusedBefore = bodyMemory.stats().reused;
  const sent: string[] = [];
  for (let round = 0; round < 4; round++) {
    const bodies = Array.from({ length: 6 }, (_, i) => largeBody(i % 2 ? 'up/same' : 'up/renamed', round * 6 + i));
    sent.push(...bodies);
    const answers = await Promise.all(bodies.map((body) => post(url, body)));
    for (const answer of answers) t.equal(answer.status, 200);
  }
  const got = new Set(upstream.requests.map((r) => r.body));
  const expected = sent.map((body) => body.replace('"model":"up/same"', '"model":"same"').replace('"model":"up/renamed"', '"model":"upstream-name"'));
  t.equal(upstream.requests.length, sent.length);
  t.ok(
    expected.every((body) => got.has(body)),
    'every body arrived byte for byte, model edited or not',
  );
  t.ok(bodyMemory.stats().reused > reusedBefore, 'and later requests reused earlier ones memory');
});

t.test('a body a plugin keeps is never overwritten by a later request', async (t) => {
  const keeper = `import { definePlugin } from 'router-kernel';
const kept = (globalThis.__keptBodies ??= []);
export default definePlugin({ id: 'keeper', kind: 'middleware', version: '1', create: () => ({ async handle(ctx, next) { kept.push(ctx.raw.body); await next(); } }) });
`;
  const { url } = await setup(t, '', { 'keeper.ts': keeper }, '\n  - use: ./keeper.ts');
  const kept = ((globalThis as { __keptBodies?: Buffer[] }).__keptBodies ??= []);
  const sent: string[] = [];
  for (let n = 0; n < 6; n++) {
    sent.push(largeBody('up/same', 1000 + n));
    t.equal((await post(url, sent[n])).status, 200);
  }
  t.same(
    kept.map((body) => body.toString()),
    sent,
    'each kept body still reads as received',
  );
});

t.test('server.reuse_body_memory: false joins every body into fresh memory', async (t) => {
  const { url } = await setup(t, 'server: { reuse_body_memory: false }');
  const reusedBefore = bodyMemory.stats().reused;
  for (let n = 0; n < 4; n++) t.equal((await post(url, largeBody('up/same', 2000 + n))).status, 200);
  t.equal(bodyMemory.stats().reused, reusedBefore, 'nothing reused');
});

t.test("reading a large body after its request was answered throws rather than reading another request's", async (t) => {
  const late = `import { definePlugin } from 'router-kernel';
const raws = (globalThis.__lateRaws ??= []);
export default definePlugin({ id: 'late', kind: 'middleware', version: '1', create: () => ({ async handle(ctx, next) { raws.push(ctx.raw); await next(); } }) });
`;
  const { url } = await setup(t, '', { 'late.ts': late }, '\n  - use: ./late.ts');
  const raws = ((globalThis as { __lateRaws?: any[] }).__lateRaws ??= []);
  const small = JSON.stringify({ model: 'up/same', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
  t.equal((await post(url, largeBody('up/same', 3000))).status, 200);
  t.equal((await post(url, small)).status, 200);
  t.equal((await post(url, largeBody('up/same', 3001))).status, 200);
  const [large, smallRaw] = raws;
  t.throws(() => large.bytes, { code: 'RK_INTERNAL', message: /after its request had been answered/ }, 'lent bytes, read late');
  t.throws(() => large.field('messages'), { code: 'RK_INTERNAL' }, 'a field not parsed yet');
  t.throws(() => large.withString('model', 'x'), { code: 'RK_INTERNAL' });
  t.equal(large.size, Buffer.byteLength(largeBody('up/same', 3000)), 'its size is still known');
  t.equal(smallRaw.bytes.toString(), small, 'a small body is not pooled, and stays readable');
});
