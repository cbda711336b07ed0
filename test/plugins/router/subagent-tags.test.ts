/**
 * Subagent tags in every place Claude Code can carry them, in any letter case, and never forwarded:
 * through a same-dialect provider (passthrough, which must rebuild the body) and a translating one.
 */
import t, { type Test } from 'tap';
import { request } from 'undici';
import { claudeCodeRequest, fixtureText } from '../../helpers/fixtures.ts';
import { mockUpstream } from '../../helpers/mock-upstream.ts';
import { startTestRouter } from '../../helpers/router.ts';

async function upstreams(t: Test) {
  const message = fixtureText('providers/anthropic/message-text.json');
  const chat = fixtureText('providers/openai/chat-completion-ratelimit-headers.json');
  const anthropic = await mockUpstream(() => ({ status: 200, headers: { 'content-type': 'application/json' }, body: message }));
  const openai = await mockUpstream(() => ({ status: 200, headers: { 'content-type': 'application/json' }, body: chat }));
  t.teardown(() => Promise.all([anthropic.close(), openai.close()]));
  // Only `default`: nothing but the tag prefilter makes this router look into the body.
  const router = await startTestRouter(
    t,
    `
providers:
  main: { use: mock, models: [m] }
  same: { use: anthropic, base_url: ${anthropic.url}, api_key: k, models: [claude-haiku-4-5] }
  other: { use: openai, base_url: ${openai.url}, api_key: k, models: [gpt-4o-mini] }
pipeline:
  - use: router
    with: { default: main/m }
`,
  );
  return { url: router.url, anthropic, openai };
}

type Body = { system: Array<{ type: string; text: string }>; messages: Array<{ role: string; content: string | Array<{ type: string; text?: string }> }> };

/** A recorded Claude Code request; `messages[1]` is its mid-conversation `role: "system"` message. */
function recorded(): Body {
  const body = structuredClone(claudeCodeRequest('plain-01').body) as Body;
  if (body.messages[1].role !== 'system' || typeof body.messages[1].content !== 'string') throw new Error('the fixture changed shape');
  return body;
}

async function send(url: string, body: Body): Promise<string> {
  const res = await request(`${url}/v1/messages?beta=true`, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body: JSON.stringify({ ...body, stream: false }) });
  await res.body.dump();
  if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
  return String(res.headers['x-router-route']);
}

const places: Array<[string, (body: Body, tag: string) => void]> = [
  ['the first system block', (body, tag) => (body.system[0].text = `${tag}\n${body.system[0].text}`)],
  ['a later system block', (body, tag) => (body.system[1].text += `\n${tag}`)],
  ['the mid-conversation system message', (body, tag) => (body.messages[1].content = `${tag}\n${body.messages[1].content as string}`)],
  ['the first user message', (body, tag) => ((body.messages[0].content as Array<{ text: string }>)[1].text += ` ${tag}`)],
];

for (const [where, put] of places) {
  t.test(`a tag in ${where} routes the request and reaches no provider, passthrough or translated`, async (t) => {
    const { url, anthropic, openai } = await upstreams(t);
    const viaSame = recorded();
    put(viaSame, '<router-model>same/claude-haiku-4-5</router-model>');
    t.equal(await send(url, viaSame), 'same/claude-haiku-4-5; reason=subagent');
    t.notMatch(anthropic.requests[0].body, /router-model/i, 'not in the body an Anthropic provider received');
    t.equal(anthropic.requests[0].json.messages.length, 2, 'no message was lost');

    const viaOther = recorded();
    put(viaOther, '<CCR-SUBAGENT-MODEL>other,gpt-4o-mini</CCR-SUBAGENT-MODEL>');
    t.equal(await send(url, viaOther), 'other/gpt-4o-mini; reason=subagent');
    t.notMatch(openai.requests[0].body, /subagent-model/i, 'nor in the translated one');
  });
}

t.test('tag names match in any letter case, whether or not anything else parses the body', async (t) => {
  const { url, anthropic } = await upstreams(t);
  for (const tag of ['<Router-Model>same/claude-haiku-4-5</Router-Model>', '<ccr-Subagent-MODEL>same/claude-haiku-4-5</CCR-subagent-model>']) {
    const body = recorded();
    body.system[1].text = `${tag}\n${body.system[1].text}`;
    t.equal(await send(url, body), 'same/claude-haiku-4-5; reason=subagent', tag);
    t.notMatch(anthropic.requests.at(-1)!.body, /subagent-model|router-model/i);
  }
});

t.test('a system message that held only a tag is dropped, not forwarded empty', async (t) => {
  const { url, anthropic } = await upstreams(t);
  const body = recorded();
  body.messages[1].content = '<router-model>same/claude-haiku-4-5</router-model>';
  t.equal(await send(url, body), 'same/claude-haiku-4-5; reason=subagent');
  t.same(anthropic.requests[0].json.messages.map((m: { role: string }) => m.role), ['user']);
});

t.test('many opening tags that never close cost linear time, and the request is routed as usual', async (t) => {
  const { url } = await upstreams(t);
  const body = recorded();
  // Searching to the end of the text for each opening tag's close would be quadratic here.
  body.system[1].text = '<router-model>same/claude-haiku-4-5 '.repeat(50_000);
  t.equal(await send(url, body), 'main/m; reason=default');
});
