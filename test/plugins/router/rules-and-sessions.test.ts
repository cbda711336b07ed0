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

t.test('rules: thinking true matches every Claude Code request (adaptive); naming the types does not', async (t) => {
  const { url } = await startTestRouter(
    t,
    `
providers:
  a: { use: mock, models: [m] }
  b: { use: mock, models: [m] }
  c: { use: mock, models: [m] }
pipeline:
  - use: router
    with:
      default: a/m
      rules:
        - { name: enabled-only, when: { thinking: enabled, header: { x-rule: typed } }, target: b/m }
        - { name: any-thinking, when: { thinking: true, header: { x-rule: any } }, target: c/m }
`,
  );
  const claudeCode = { ...claudeCodeRequest('plain-01').body, stream: false };
  t.match(await send(url, claudeCode, { 'x-rule': 'any' }), { route: 'c/m; reason=rule:any-thinking' }, 'adaptive thinking is thinking');
  t.match(await send(url, claudeCode, { 'x-rule': 'typed' }), { route: 'a/m; reason=default' }, 'but not the type named');
  t.match(await send(url, { ...claudeCode, thinking: { type: 'enabled', budget_tokens: 4096 } }, { 'x-rule': 'typed' }), { route: 'b/m; reason=rule:enabled-only' });
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

t.test('subagent tags: every tag in the system blocks and first user message goes, in any case; emptied blocks are dropped', async (t) => {
  const sub = await anthropicUpstream(t, () => 10);
  const { url } = await startTestRouter(
    t,
    `
providers:
  main: { use: mock, models: [m] }
  sub: { use: anthropic, base_url: ${sub.url}, api_key: k, models: [h] }
pipeline:
  - use: router
    with: { default: main/m }
`,
  );
  const body = {
    model: 'claude-sonnet-4-5',
    max_tokens: 50,
    system: [{ type: 'text', text: '<ROUTER-MODEL>sub/h</ROUTER-MODEL>' }, { type: 'text', text: 'You are a subagent. <router-model>main/m</router-model>' }],
    messages: [{ role: 'user', content: [{ type: 'text', text: '<CCR-SUBAGENT-MODEL>main/m</CCR-SUBAGENT-MODEL>' }, { type: 'text', text: 'Do the task.' }] }, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'quoting <router-model>x/y</router-model> later is fine' }],
  };
  t.match(await send(url, body), { status: 200, route: 'sub/h; reason=subagent' }, 'the first tag wins');
  const forwarded = sub.requests[0].json;
  t.same(forwarded.system, [{ type: 'text', text: 'You are a subagent. ' }], 'the tag-only block is gone, the other cleaned');
  t.same(forwarded.messages[0].content, [{ type: 'text', text: 'Do the task.' }]);
  t.match(forwarded.messages[2].content, [{ text: /<router-model>x\/y<\/router-model>/ }], 'tags in later messages are left alone');
});

t.test('an opened tag that never closes costs linear time, and the request is routed as usual', async (t) => {
  const { url } = await startTestRouter(t, `
providers:
  main: { use: mock, models: [m] }
pipeline:
  - use: router
    with: { default: main/m }
`);
  // A backtracking pattern would take minutes on this; it must answer like any other request.
  const hostile = { ...small(), system: `<router-model>${' '.repeat(200_000)}x` };
  t.match(await send(url, hostile), { status: 200, route: 'main/m; reason=default' });
});

t.test('patterns: a path is a glob, regex flags g and y do not make matching alternate, a bad regex is a config error', async (t) => {
  const yaml = (rule: string) => `
providers:
  a: { use: mock, models: [m] }
  b: { use: mock, models: [m] }
pipeline:
  - use: router
    with:
      default: a/m
      rules:
${rule}
`;
  const paths = await startTestRouter(t, yaml('        - { when: { path: /v1/messages }, target: b/m }'));
  t.match(await send(paths.url, small()), { route: 'b/m; reason=rule:0' });
  const flags = await startTestRouter(t, yaml('        - { when: { model: "/SONNET/gi" }, target: b/m }'));
  for (let i = 0; i < 4; i++) t.match(await send(flags.url, small()), { route: 'b/m; reason=rule:0' }, `request ${i}`);
  flags.writeConfig(yaml('        - { when: { model: "/(sonnet/i" }, target: b/m }'));
  const result = await flags.router.reload('test');
  t.match(String((result as { error?: Error }).error?.message), /rules\[0\]\.when: "\/\(sonnet\/i" is not a valid regular expression/);
});

t.test("a custom router's choice still has the tag removed and the session recorded", async (t) => {
  const sub = await anthropicUpstream(t, () => 150_000);
  const { url } = await startTestRouter(
    t,
    `
providers:
  main: { use: mock, models: [m] }
  long: { use: mock, models: [m] }
  sub: { use: anthropic, base_url: ${sub.url}, api_key: k, models: [h] }
pipeline:
  - use: ./custom.ts
  - use: router
    with:
      default: main/m
      long_context: { target: long/m, threshold: 100000 }
`,
    { files: { 'custom.ts': "import { defineRouter } from 'router-kernel';\nexport default defineRouter({ id: 'custom', route: (request, { headers }) => (headers['x-pick'] ? 'sub/h' : undefined) });\n" } },
  );
  const session = { 'x-claude-code-session-id': 'custom-session', 'x-pick': '1' };
  t.match(await send(url, small({ system: 'x <router-model>main/m</router-model>' }), session), { route: 'sub/h; reason=custom:custom' });
  t.notMatch(sub.requests[0].body, /router-model/, 'stripped although the custom router chose');
  t.match(await send(url, small(), { 'x-claude-code-session-id': 'custom-session' }), { route: /^long\/m; reason=long_context; session=sticky/ }, "the custom route's answer counted for the session");
});

t.test("a long session's background calls go to the background model and do not end its stickiness", async (t) => {
  const main = await anthropicUpstream(t, () => 150_000);
  const { url } = await startTestRouter(
    t,
    `
providers:
  main: { use: anthropic, base_url: ${main.url}, api_key: k, models: [sonnet] }
  fast: { use: mock, models: [h] }
  long: { use: mock, models: [m] }
pipeline:
  - use: router
    with:
      default: main/sonnet
      background: fast/h
      long_context: { target: long/m, threshold: 100000 }
`,
  );
  const session = { 'x-claude-code-session-id': 's-bg' };
  t.match(await send(url, small(), session), { route: 'main/sonnet; reason=default' });
  t.match(await send(url, small({ model: 'claude-haiku-4-5' }), session), { route: 'fast/h; reason=background' }, 'the side call stays cheap');
  t.match(await send(url, small(), session), { route: /^long\/m; reason=long_context; session=sticky; last_input=150000/ }, 'the main conversation is still long');
});

t.test("a fallback does not inherit the failed target's model limits", async (t) => {
  const first = await anthropicUpstream(t, () => 10, () => 529);
  const second = await anthropicUpstream(t, () => 10);
  const { url } = await startTestRouter(
    t,
    `
providers:
  first: { use: anthropic, base_url: ${first.url}, api_key: k, models: [{ name: m, max_output_tokens: 100, thinking: false }] }
  second: { use: anthropic, base_url: ${second.url}, api_key: k, models: [m] }
pipeline:
  - use: router
    with: { default: [first/m, second/m] }
`,
  );
  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(small({ max_tokens: 4000, thinking: { type: 'enabled', budget_tokens: 2000 } })) });
  await res.body.dump();
  t.equal(res.statusCode, 200);
  t.equal(first.requests[0].json.max_tokens, 100, 'the first target got its limits');
  t.equal(second.requests[0].json.max_tokens, 4000, 'the fallback got the request as the client sent it');
  t.same(second.requests[0].json.thinking, { type: 'enabled', budget_tokens: 2000 });
  t.equal(res.headers['x-router-dropped'], undefined, 'nothing was dropped for the answer the client got');
});
