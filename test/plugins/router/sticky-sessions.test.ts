/**
 * Long-context stickiness with Claude Code's real traffic shape: a main conversation, its Task-tool
 * subagents (same `x-claude-code-session-id`, plus `x-claude-code-agent-id` in newer versions) and
 * its Haiku side calls (same session, a Haiku model). Only a conversation's own answers make it
 * sticky or end it, and only the conversation itself is routed by it.
 */
import t, { type Test } from 'tap';
import { request } from 'undici';
import { claudeCodeRequest, fixtureText } from '../../helpers/fixtures.ts';
import { mockUpstream } from '../../helpers/mock-upstream.ts';
import { startTestRouter } from '../../helpers/router.ts';

/** What the next answer reports as its input (the provider's own count). */
let reported = 10;

async function upstream(t: Test) {
  const recorded = JSON.parse(fixtureText('providers/anthropic/message-text.json')) as { usage: Record<string, number> };
  const server = await mockUpstream(() => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...recorded, usage: { ...recorded.usage, input_tokens: reported, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 } }) }));
  t.teardown(() => server.close());
  return server;
}

async function startRouter(t: Test, withBackground: boolean, threshold = 100_000) {
  const server = await upstream(t);
  return startTestRouter(
    t,
    `
providers:
  main: { use: anthropic, base_url: ${server.url}, api_key: k, models: [sonnet] }
  long: { use: anthropic, base_url: ${server.url}, api_key: k, models: [sonnet-1m] }
  fast: { use: anthropic, base_url: ${server.url}, api_key: k, models: [haiku] }
pipeline:
  - use: router
    with:
      default: main/sonnet
      long_context: { target: long/sonnet-1m, threshold: ${threshold} }
${withBackground ? '      background: fast/haiku\n' : ''}`,
  );
}

const session = '6f1c2a9e-0b7d-4c55-9d1e-3a2b1c0d9e8f';
const main = { 'x-claude-code-session-id': session };
const subagent = { 'x-claude-code-session-id': session, 'x-claude-code-agent-id': 'a1b2c3d4e5f6a7b8' };
const otherSubagent = { 'x-claude-code-session-id': session, 'x-claude-code-agent-id': 'f0e1d2c3b4a59687' };

/** A recorded Claude Code request (~76 KB, ~19k tokens: far under the threshold by size alone). */
function claudeCode(model = 'claude-opus-4-8'): Record<string, unknown> {
  return { ...claudeCodeRequest('tool-use-02').body, model, stream: false };
}

/** Sends a request whose answer reports `input` tokens; returns the route it took. */
async function turn(url: string, headers: Record<string, string>, input: number, model?: string): Promise<string> {
  reported = input;
  const res = await request(`${url}/v1/messages?beta=true`, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...headers }, body: JSON.stringify(claudeCode(model)) });
  await res.body.dump();
  if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
  return String(res.headers['x-router-route']);
}

const sticky = /^long\/sonnet-1m; reason=long_context; session=sticky/;

t.test("a subagent's small answer does not end the main conversation's stickiness", async (t) => {
  const { url } = await startRouter(t, false);
  t.match(await turn(url, main, 150_000), /reason=default/);
  t.match(await turn(url, main, 152_000), sticky, 'the main conversation is long now');
  t.match(await turn(url, subagent, 8_000), /^main\/sonnet; reason=default/, 'its subagent starts small');
  t.match(await turn(url, main, 153_000), sticky, 'and the main conversation is still long');
});

t.test('a large subagent makes itself sticky, not its parent or its siblings', async (t) => {
  const { url } = await startRouter(t, false);
  t.match(await turn(url, main, 20_000), /reason=default/);
  t.match(await turn(url, subagent, 140_000), /reason=default/);
  t.match(await turn(url, main, 21_000), /^main\/sonnet; reason=default/, 'the parent is as small as it was');
  t.match(await turn(url, otherSubagent, 9_000), /^main\/sonnet; reason=default/, 'so is another subagent');
  t.match(await turn(url, subagent, 141_000), sticky, 'the large subagent is its own long conversation');
});

t.test("Haiku side calls neither consume nor end a session's stickiness, with or without a background scenario", async (t) => {
  for (const withBackground of [false, true]) {
    const { url } = await startRouter(t, withBackground);
    await turn(url, main, 150_000);
    const side = await turn(url, main, 600, 'claude-haiku-4-5-20251001');
    t.notMatch(side, /long_context/, `a Haiku call is not sent to the long model (${withBackground ? 'background configured' : 'no background scenario'})`);
    t.match(await turn(url, main, 151_000), sticky, 'the main conversation is still long');
  }
});

t.test('a Haiku side call that reports a large input does not make the session sticky', async (t) => {
  const { url } = await startRouter(t, false);
  t.match(await turn(url, main, 20_000, 'claude-haiku-4-5-20251001'), /reason=default/);
  await turn(url, main, 150_000, 'claude-haiku-4-5-20251001');
  t.match(await turn(url, main, 20_000), /^main\/sonnet; reason=default/);
});

t.test('a sticky conversation is routed without counting its tokens', async (t) => {
  const { url, router } = await startRouter(t, false, 20_000);
  const tokens = router.supervisor.tokens;
  let counts = 0;
  const countBody = tokens.countBody.bind(tokens);
  tokens.countBody = (...args) => (counts++, countBody(...args));
  await turn(url, main, 150_000);
  t.equal(counts, 1, 'by its size (~76 KB) the first request may be over 20,000 tokens: counted');
  t.match(await turn(url, main, 151_000), sticky);
  t.equal(counts, 1, 'once the conversation is sticky, its size no longer matters: not counted');
});
