/**
 * Ordered rules, subagent tags, long-context stickiness per session and fallback lists, against
 * upstreams that record what they receive.
 */
import t, { type Test } from 'tap';
import { request } from 'undici';
import { claudeCodeRequest, fixtureReply, fixtureText } from '../../helpers/fixtures.ts';
import { mockUpstream, type UpstreamHandler } from '../../helpers/mock-upstream.ts';
import { startTestRouter } from '../../helpers/router.ts';

async function send(url: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await request(`${url}/v1/messages?beta=true`, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...headers }, body: JSON.stringify(body) });
  const text = await res.body.text();
  return { status: res.statusCode, route: String(res.headers['x-router-route'] ?? ''), text };
}

const small = (change: Record<string, unknown> = {}) => ({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }], ...change });

/** An Anthropic-dialect upstream answering the recorded message, with the input usage asked for. */
async function anthropicUpstream(t: Test, inputTokens: () => number, status: () => number = () => 200) {
  const recorded = JSON.parse(fixtureText('providers/anthropic/message-text.json')) as { usage: Record<string, number> };
  const handler: UpstreamHandler = () => {
    if (status() !== 200) return fixtureReply('providers/anthropic/error-400-invalid-request.json', { status: status(), body: JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }) });
    return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...recorded, usage: { ...recorded.usage, input_tokens: inputTokens(), cache_read_input_tokens: 0, cache_creation_input_tokens: 0 } }) };
  };
  const upstream = await mockUpstream(handler);
  t.teardown(() => upstream.close());
  return upstream;
}

t.test('rules: the first rule whose every condition holds wins, with its name in the reason', async (t) => {
  const { url } = await startTestRouter(
    t,
    `
providers:
  a: { use: mock, models: [m] }
  b: { use: mock, models: [m] }
  c: { use: mock, models: [m] }
  d: { use: mock, models: [m] }
pipeline:
  - use: router
    with:
      default: a/m
      background: d/m
      rules:
        - name: research
          when: { header: { x-team: "research*" }, model: "claude-*" }
          target: b/m
        - when: { header: { x-team: "/^res/" } }
          target: c/m
        - name: tools-and-thinking
          when: { tool: [Bash, "Web*"], thinking: true }
          target: c/m
        - name: tiny
          when: { tokens: { below: 50 } }
          target: d/m
        - name: tagged
          when: { metadata: { user_id: "*vip*" } }
          target: b/m
`,
  );
  t.match(await send(url, small(), { 'x-team': 'research-ml' }), { route: 'b/m; reason=rule:research' });
  t.match(await send(url, small({ model: 'gpt-4o' }), { 'x-team': 'research-ml' }), { route: 'c/m; reason=rule:1' }, 'the first rule needs a Claude model; the second takes it');
  const claudeCode = { ...claudeCodeRequest('plain-01').body, stream: false };
  t.match(await send(url, { ...claudeCode, thinking: { type: 'enabled', budget_tokens: 2048 } }), { route: 'c/m; reason=rule:tools-and-thinking' });
  t.match(await send(url, small()), { route: 'd/m; reason=rule:tiny' }, 'a request far under 50 tokens matches without counting');
  t.match(await send(url, small({ messages: [{ role: 'user', content: 'word '.repeat(60) }] })), { route: /^a\/m; reason=default/ }, 'over 50 tokens once counted');
  t.match(await send(url, small({ metadata: { user_id: 'user_vip_42' }, messages: [{ role: 'user', content: 'word '.repeat(60) }] })), { route: 'b/m; reason=rule:tagged' });
  t.match(await send(url, small({ model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'word '.repeat(60) }] })), { route: 'd/m; reason=background' }, 'rules come before scenarios; none matched');
});

t.test('subagent tags route the request and are removed before it goes upstream', async (t) => {
  const main = await anthropicUpstream(t, () => 10);
  const sub = await anthropicUpstream(t, () => 10);
  const { url } = await startTestRouter(
    t,
    `
providers:
  main: { use: anthropic, base_url: ${main.url}, api_key: k, models: [sonnet] }
  sub: { use: anthropic, base_url: ${sub.url}, api_key: k, models: [claude-haiku-4-5] }
pipeline:
  - use: router
    with: { default: main/sonnet }
`,
  );
  const recorded = claudeCodeRequest('plain-01').body as { system: Array<{ type: string; text: string }>; messages: Array<{ role: string; content: Array<{ type: string; text?: string }> }> };

  const inSystem = structuredClone(recorded);
  inSystem.system[1].text = `<router-model>sub/claude-haiku-4-5</router-model>\n${inSystem.system[1].text}`;
  t.match(await send(url, { ...inSystem, stream: false }), { status: 200, route: 'sub/claude-haiku-4-5; reason=subagent' });
  const forwarded = sub.requests[0];
  t.notMatch(forwarded.body, /router-model/, 'the tag never reaches the provider');
  t.equal(forwarded.json.system[1].text, recorded.system[1].text, 'the rest of the block is intact');
  t.equal(forwarded.json.model, 'claude-haiku-4-5');

  const inUser = structuredClone(recorded);
  const first = inUser.messages[0].content.find((part) => part.type === 'text')!;
  first.text = `<CCR-SUBAGENT-MODEL>sub,claude-haiku-4-5</CCR-SUBAGENT-MODEL>${first.text}`;
  t.match(await send(url, { ...inUser, stream: false }), { route: 'sub/claude-haiku-4-5; reason=subagent' });
  t.notMatch(sub.requests[1].body, /CCR-SUBAGENT-MODEL/);

  const unknown = structuredClone(recorded);
  unknown.system[1].text = `<router-model>nowhere/x</router-model>${unknown.system[1].text}`;
  t.match(await send(url, { ...unknown, stream: false }), { status: 200, route: 'main/sonnet; reason=default' }, 'a tag naming no provider is removed and ignored');
  t.notMatch(main.requests.at(-1)!.body, /router-model/);
  t.equal(main.requests.length, 1);
});

t.test('long context sticks to a session once its answer reported more input than the threshold, and ends when it drops', async (t) => {
  let reported = 150_000;
  const main = await anthropicUpstream(t, () => 10);
  const wide = await anthropicUpstream(t, () => reported);
  const { url } = await startTestRouter(
    t,
    `
providers:
  main: { use: anthropic, base_url: ${main.url}, api_key: k, models: [sonnet] }
  wide: { use: anthropic, base_url: ${wide.url}, api_key: k, models: [sonnet-1m] }
pipeline:
  - use: router
    with:
      default: main/sonnet
      long_context: { target: wide/sonnet-1m, threshold: 100000 }
`,
  );
  const session = { 'x-claude-code-session-id': '9b2f1c4e-session-a' };
  t.match(await send(url, small(), session), { route: 'main/sonnet; reason=default' });
  // Something pushes the session over: the explicit long model answers with 150k input tokens.
  t.match(await send(url, small({ model: 'wide/sonnet-1m' }), session), { route: /reason=explicit/ });
  t.match(await send(url, small(), session), { route: 'wide/sonnet-1m; reason=long_context; session=sticky; last_input=150000' }, 'the next small request stays long');
  t.match(await send(url, small(), { 'x-claude-code-session-id': 'another-session' }), { route: 'main/sonnet; reason=default' }, 'other sessions are unaffected');

  const userId = JSON.stringify({ device_id: 'd', account_uuid: '', session_id: 'session-from-metadata' });
  await send(url, small({ model: 'wide/sonnet-1m', metadata: { user_id: userId } }));
  t.match(await send(url, small({ metadata: { user_id: userId } })), { route: /^wide\/sonnet-1m; reason=long_context; session=sticky/ }, 'the session id in metadata.user_id (JSON) works too');
  t.match(await send(url, small({ metadata: { user_id: 'user_abc_account__session_0f1e2d3c-4b5a-6789-abcd-ef0123456789' } })), { route: /reason=default/ });

  reported = 2_000; // compacted: the long model's answer now reports a small input
  await send(url, small(), session);
  t.match(await send(url, small(), session), { route: 'main/sonnet; reason=default' }, 'stickiness ends with an answer under the threshold');
});

t.test('a target list falls back in order when its provider fails before answering', async (t) => {
  let failing = true;
  const first = await anthropicUpstream(t, () => 10, () => (failing ? 529 : 200));
  const second = await anthropicUpstream(t, () => 10);
  const { url, logs } = await startTestRouter(
    t,
    `
providers:
  first: { use: anthropic, base_url: ${first.url}, api_key: k, models: [s1] }
  second: { use: anthropic, base_url: ${second.url}, api_key: k, models: [s2] }
pipeline:
  - use: router
    with:
      default: [first/s1, second/s2]
`,
  );
  const answer = await send(url, small());
  t.equal(answer.status, 200);
  t.equal(answer.route, 'second/s2; reason=default; fallback_from=first/s1');
  t.match(JSON.parse(answer.text), { type: 'message' });
  t.equal(first.requests.length, 1);
  t.equal(second.requests.length, 1);
  t.ok(logs.some((line) => /trying its fallback/.test(line.msg) && line.from === 'first/s1'));

  failing = false;
  t.match(await send(url, small()), { route: 'first/s1; reason=default' });
});

t.test('a client error is not retried elsewhere: the 400 comes back as is', async (t) => {
  const first = await anthropicUpstream(t, () => 10, () => 400);
  const second = await anthropicUpstream(t, () => 10);
  const { url } = await startTestRouter(
    t,
    `
providers:
  first: { use: anthropic, base_url: ${first.url}, api_key: k, models: [m] }
  second: { use: anthropic, base_url: ${second.url}, api_key: k, models: [m] }
pipeline:
  - use: router
    with: { default: [first/m, second/m] }
`,
  );
  t.match(await send(url, small()), { status: 400 });
  t.equal(second.requests.length, 0);
});
