/**
 * The router's scenario routes, with requests shaped like Claude Code's (test/fixtures/clients):
 * background, think, long context, web search, image, explicit and aliased models, and the order
 * in which they apply. The route is read from `x-router-route`, as users see it.
 */
import t from 'tap';
import { request } from 'undici';
import { claudeCodeRequest } from '../../helpers/fixtures.ts';
import { startTestRouter } from '../../helpers/router.ts';

const providers = `
providers:
  fast: { use: mock, models: [small] }
  main: { use: mock, models: [big] }
  reason: { use: mock, models: [r1] }
  wide: { use: mock, models: [long] }
  search: { use: mock, models: [web] }
  eyes: { use: mock, models: [vision] }
`;

function config(withRouter: string): string {
  return `${providers}
pipeline:
  - use: router
    with:
      default: main/big
${withRouter}`;
}

async function routeOf(url: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<{ status: number; route: string }> {
  const res = await request(`${url}/v1/messages?beta=true`, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...headers }, body: JSON.stringify(body) });
  await res.body.dump();
  return { status: res.statusCode, route: String(res.headers['x-router-route'] ?? '') };
}

/** A real Claude Code request (main model, adaptive thinking, effort high, 24 tools), non-streaming for brevity. */
function claudeCode(name = 'tool-use-01', change: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...claudeCodeRequest(name).body, stream: false, ...change };
}

t.test("background: Claude Code's Haiku calls go to the background model, its main calls do not", async (t) => {
  const { url } = await startTestRouter(t, config('      background: fast/small'));
  t.match(await routeOf(url, claudeCode('plain-01', { model: 'claude-haiku-4-5-20251001' })), { status: 200, route: 'fast/small; reason=background' });
  t.match(await routeOf(url, claudeCode('plain-01')), { route: 'main/big; reason=default' });
});

t.test('background models are configurable globs or regular expressions', async (t) => {
  const { url } = await startTestRouter(t, config('      background: { target: fast/small, models: ["gpt-4o-mini*", "/^claude-3-5-haiku/"] }'));
  t.match(await routeOf(url, claudeCode('plain-01', { model: 'gpt-4o-mini-2024-07-18' })), { route: 'fast/small; reason=background' });
  t.match(await routeOf(url, claudeCode('plain-01', { model: 'claude-3-5-haiku-latest' })), { route: 'fast/small; reason=background' });
  t.match(await routeOf(url, claudeCode('plain-01', { model: 'claude-haiku-4-5' })), { route: 'main/big; reason=default' }, 'the default pattern is replaced, not extended');
});

t.test("think: explicit thinking goes to the reasoning model; Claude Code's everyday adaptive thinking does not, unless configured", async (t) => {
  const plain = await startTestRouter(t, config('      think: reason/r1'));
  t.match(await routeOf(plain.url, claudeCode()), { route: 'main/big; reason=default' }, 'adaptive + effort high is an ordinary request');
  t.match(await routeOf(plain.url, claudeCode('tool-use-01', { thinking: { type: 'enabled', budget_tokens: 4096 } })), { route: 'reason/r1; reason=think' });
  t.match(await routeOf(plain.url, claudeCode('tool-use-01', { thinking: { type: 'disabled' } })), { route: 'main/big; reason=default' });

  const byEffort = await startTestRouter(t, config('      think: { target: reason/r1, effort: [max] }'));
  t.match(await routeOf(byEffort.url, claudeCode()), { route: 'main/big; reason=default' }, "Claude Code's everyday effort high does not count");
  t.match(await routeOf(byEffort.url, claudeCode('tool-use-01', { output_config: { effort: 'max' } })), { route: 'reason/r1; reason=think' }, 'effort max counts');
  t.match(await routeOf(byEffort.url, claudeCode('tool-use-01', { output_config: { effort: 'low' } })), { route: 'main/big; reason=default' });

  const byBudget = await startTestRouter(t, config('      think: { target: reason/r1, min_budget: 8000 }'));
  t.match(await routeOf(byBudget.url, claudeCode('tool-use-01', { thinking: { type: 'enabled', budget_tokens: 4096 } })), { route: 'main/big; reason=default' });
  t.match(await routeOf(byBudget.url, claudeCode('tool-use-01', { thinking: { type: 'enabled', budget_tokens: 16000 } })), { route: 'reason/r1; reason=think' });
});

t.test('long_context: a prompt above the threshold goes to the long-context model, with its count in the header', async (t) => {
  const { url } = await startTestRouter(t, config('      long_context: { target: wide/long, threshold: 8000 }'));
  const big = await routeOf(url, claudeCode('tool-use-03'));
  t.match(big.route, /^wide\/long; reason=long_context; tokens=(\d+)$/);
  t.ok(Number(/tokens=(\d+)/.exec(big.route)?.[1]) > 8000);
  t.match(await routeOf(url, { model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }), { route: 'main/big; reason=default' }, 'a small request is settled by the size bound, not counted');
});

/** Counts how often the router asks the kernel's token counter for a count (from the body or the parsed request). */
function countCalls(router: Awaited<ReturnType<typeof startTestRouter>>['router']): { calls: number } {
  const tokens = router.supervisor.tokens;
  const seen = { calls: 0 };
  const countBody = tokens.countBody.bind(tokens);
  const countBlocks = tokens.countBlocks.bind(tokens);
  tokens.countBody = async (...args) => {
    seen.calls++;
    const count = await countBody(...args);
    if (count === undefined) seen.calls--; // countBlocks follows
    return count;
  };
  tokens.countBlocks = (...args) => {
    seen.calls++;
    return countBlocks(...args);
  };
  return seen;
}

t.test("long_context: an ordinary Claude Code request is settled by its size, with the documented margin, and not counted", async (t) => {
  const { url, router } = await startTestRouter(t, config('      long_context: { target: wide/long, threshold: 60000 }'));
  const seen = countCalls(router);
  // ~76 KB, ~19k tokens: at two bytes per token it could hold ~38k, under the threshold.
  t.match(await routeOf(url, claudeCode('tool-use-03')), { route: 'main/big; reason=default' });
  t.equal(seen.calls, 0);
  const grown = claudeCode('tool-use-03', { messages: [...(claudeCode('tool-use-03').messages as unknown[]), { role: 'user', content: 'export const value = computeSomething(input, options);\n'.repeat(1_000) }] });
  t.match(await routeOf(url, grown), { route: 'main/big; reason=default' });
  t.equal(seen.calls, 1, 'a request that could be over it by its size is counted');
});

t.test('long_context: a count that fails routes on an estimate, says so, and the request is answered', async (t) => {
  const { url, logs } = await startTestRouter(t, config('      long_context: { target: wide/long, threshold: 8000 }\n      count_timeout: 1ms'));
  // Far more than a millisecond of counting, so the count passes its deadline.
  const huge = claudeCode('tool-use-03', { messages: [{ role: 'user', content: 'lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(30_000) }] });
  const routed = await routeOf(url, huge);
  t.equal(routed.status, 200);
  t.match(routed.route, /^wide\/long; reason=long_context; estimated_tokens=\d+$/);
  t.ok(logs.some((line) => line.level === 40 && /token counting failed; routing on an estimate/.test(line.msg) && /no count within 1 ms/.test(line.err?.message)), 'a warning says why');
});

t.test('web_search: a provider-run web search tool, not Claude Code\'s client tool named WebSearch', async (t) => {
  const { url } = await startTestRouter(t, config('      web_search: search/web'));
  const withServerTool = claudeCode('plain-01', { tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 5 }] });
  t.match(await routeOf(url, withServerTool), { route: 'search/web; reason=web_search' });
  const names = (claudeCode('plain-01').tools as Array<{ name: string }>).map((tool) => tool.name);
  t.ok(names.includes('WebSearch'), 'Claude Code always offers its own WebSearch tool');
  t.match(await routeOf(url, claudeCode('plain-01')), { route: 'main/big; reason=default' });
});

t.test('image: only an image in the latest user turn (a screenshot in a tool result counts)', async (t) => {
  const { url } = await startTestRouter(t, config('      image: eyes/vision'));
  const image = { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } };
  t.match(await routeOf(url, { model: 'claude-sonnet-4-5', max_tokens: 50, messages: [{ role: 'user', content: [image, { type: 'text', text: 'what is this?' }] }] }), { route: 'eyes/vision; reason=image' });
  const screenshot = [
    { role: 'user', content: 'take a screenshot' },
    { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'Screenshot', input: {} }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [image] }] },
  ];
  t.match(await routeOf(url, { model: 'claude-sonnet-4-5', max_tokens: 50, messages: screenshot }), { route: 'eyes/vision; reason=image' });
  const earlier = [{ role: 'user', content: [image] }, { role: 'assistant', content: 'a cat' }, { role: 'user', content: 'thanks' }];
  t.match(await routeOf(url, { model: 'claude-sonnet-4-5', max_tokens: 50, messages: earlier }), { route: 'main/big; reason=default' });
});

t.test('explicit targets and aliases win over every scenario; a mistyped provider is a 404', async (t) => {
  const { url } = await startTestRouter(t, config('      background: fast/small\n      think: reason/r1\n      aliases: { claude-opus-4-8: wide/long, fast: [fast/small, main/big] }'));
  t.match(await routeOf(url, claudeCode('plain-01', { model: 'reason,r1' })), { route: 'reason/r1; reason=explicit' });
  t.match(await routeOf(url, claudeCode('plain-01', { model: 'search/web' })), { route: 'search/web; reason=explicit' });
  t.match(await routeOf(url, claudeCode('plain-01')), { route: 'wide/long; reason=alias' }, "Claude Code's own model name, aliased");
  t.match(await routeOf(url, claudeCode('plain-01', { model: 'fast', thinking: { type: 'enabled', budget_tokens: 2048 } })), { route: 'fast/small; reason=alias' });
  const typo = await routeOf(url, claudeCode('plain-01', { model: 'reasn,r1' }));
  t.equal(typo.status, 404);
});

t.test("a subagent tag wins over an alias on the client's model; an explicit provider/model wins over the tag", async (t) => {
  const { url } = await startTestRouter(t, config('      aliases: { claude-opus-4-8: wide/long }'));
  const tagged = (model?: string) => {
    const body = claudeCode('plain-01', model ? { model } : {}) as { system: Array<{ text: string }> };
    body.system[1].text = `<router-model>fast/small</router-model>\n${body.system[1].text}`;
    return body;
  };
  t.match(await routeOf(url, tagged()), { route: 'fast/small; reason=subagent' }, "Claude Code's subagent, with the main model's aliased name");
  t.match(await routeOf(url, claudeCode('plain-01')), { route: 'wide/long; reason=alias' }, 'untagged, the alias applies');
  t.match(await routeOf(url, tagged('reason,r1')), { route: 'reason/r1; reason=explicit' });
});

t.test('scenarios apply in the documented order', async (t) => {
  const { url } = await startTestRouter(t, config('      background: fast/small\n      think: reason/r1\n      long_context: { target: wide/long, threshold: 8000 }\n      image: eyes/vision\n      web_search: search/web'));
  // long context beats background (a huge Haiku call still needs the long model)
  t.match(await routeOf(url, claudeCode('tool-use-03', { model: 'claude-haiku-4-5' })), { route: /^wide\/long; reason=long_context/ });
  const small = (change: Record<string, unknown>) => ({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }], ...change });
  const search = [{ type: 'web_search_20250305', name: 'web_search' }];
  const thinking = { type: 'enabled', budget_tokens: 2048 };
  // background beats web search and think
  t.match(await routeOf(url, small({ model: 'claude-haiku-4-5', tools: search, thinking })), { route: 'fast/small; reason=background' });
  // web search beats think
  t.match(await routeOf(url, small({ tools: search, thinking })), { route: 'search/web; reason=web_search' });
  t.match(await routeOf(url, small({ thinking })), { route: 'reason/r1; reason=think' });
});

t.test('a target naming an unconfigured provider rejects the configuration, naming the option', async (t) => {
  const { url, router, writeConfig, logs } = await startTestRouter(t, config('      think: reason/r1'));
  writeConfig(config('      think: nowhere/r1\n      rules: [{ when: { model: "x*" }, target: [main/big, elsewhere/m] }]'));
  const result = await router.reload('test');
  t.equal(result.ok, false);
  t.match(String((result as { error: Error }).error.message), /think: "nowhere\/r1" names provider "nowhere".*rules\[0\]\.target: "elsewhere\/m" names provider "elsewhere"/s);
  t.match(await routeOf(url, claudeCode('tool-use-01', { thinking: { type: 'enabled', budget_tokens: 4096 } })), { route: 'reason/r1; reason=think' }, 'the previous configuration keeps serving');
  t.ok(logs.some((line) => /config rejected/.test(line.msg)));
});

t.test("web_search: OpenAI's web_search_options counts too", async (t) => {
  const { url } = await startTestRouter(t, config('      web_search: search/web'));
  const res = await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o', web_search_options: {}, messages: [{ role: 'user', content: 'news?' }] }) });
  await res.body.dump();
  t.equal(res.headers['x-router-route'], 'search/web; reason=web_search');
});
