/**
 * A long conversation's earlier messages are parsed once and shared by its later requests
 * (core/dialects/element-memo.ts). Routing must treat them as read-only: stripping a subagent tag
 * from one request must neither fail nor change what the next request of the conversation says.
 */
import t from 'tap';
import { request } from 'undici';
import { claudeCodeRequest, fixtureText } from '../../helpers/fixtures.ts';
import { mockUpstream } from '../../helpers/mock-upstream.ts';
import { startTestRouter } from '../../helpers/router.ts';

t.test('a subagent tag in a long conversation is stripped on every turn, and the shared messages keep it', async (t) => {
  const reply = fixtureText('providers/anthropic/message-text.json');
  const main = await mockUpstream(() => ({ status: 200, headers: { 'content-type': 'application/json' }, body: reply }));
  const sub = await mockUpstream(() => ({ status: 200, headers: { 'content-type': 'application/json' }, body: reply }));
  t.teardown(() => Promise.all([main.close(), sub.close()]));
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
  const recorded = claudeCodeRequest('tool-use-03').body as { messages: Array<{ role: string; content: unknown }> };
  const conversation = structuredClone(recorded);
  const first = conversation.messages[0];
  first.content = [{ type: 'text', text: '<router-model>sub/claude-haiku-4-5</router-model>Explore the repository.' }];
  // Long enough that its messages are parsed one by one and kept for the next turn.
  for (let i = 0; i < 8; i++) {
    conversation.messages.push({ role: 'assistant', content: [{ type: 'tool_use', id: `toolu_${i}`, name: 'Read', input: { file_path: `/src/${i}.ts` } }] });
    conversation.messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: `toolu_${i}`, content: 'export const x = 1;\n'.repeat(500) }] });
  }
  t.ok(JSON.stringify(conversation.messages).length > 64 * 1024, 'a long conversation');

  for (let turn = 0; turn < 3; turn++) {
    const res = await request(`${url}/v1/messages?beta=true`, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body: JSON.stringify({ ...conversation, stream: false }) });
    await res.body.text();
    t.equal(res.statusCode, 200, `turn ${turn} answered`);
    t.match(String(res.headers['x-router-route']), 'sub/claude-haiku-4-5; reason=subagent', `turn ${turn} routed by its tag`);
    const forwarded = sub.requests.at(-1)!;
    t.notMatch(forwarded.body, /router-model/, `turn ${turn}: the tag never reaches the provider`);
    t.equal(forwarded.json.messages[0].content[0].text, 'Explore the repository.');
    conversation.messages.push({ role: 'assistant', content: [{ type: 'text', text: `turn ${turn} done` }] }, { role: 'user', content: [{ type: 'text', text: 'go on' }] });
  }
  t.equal(main.requests.length, 0);
});
