/**
 * Which family counts a request, and how OpenAI's models read tool definitions. The calibration
 * test checks the totals against billed usage; this one pins the pieces.
 */
import pino from 'pino';
import t from 'tap';
import type { CanonicalRequest } from '../../core/canonical.ts';
import { encodingFor, tokenFamilyFor } from '../../core/tokens/families.ts';
import { renderOpenAITool } from '../../core/tokens/openai-tools.ts';
import { TokenCounter, type TokenCount } from '../../core/tokens/token-counter.ts';

t.test('the family follows the model name, then the client dialect', async (t) => {
  const cases: Array<[string, Parameters<typeof tokenFamilyFor>[1], string]> = [
    ['claude-sonnet-4-5', 'openai', 'claude'],
    ['anthropic/claude-opus-4', 'openai', 'claude'],
    ['openrouter,claude-3-5-haiku', undefined, 'claude'],
    ['gemini-2.5-pro', 'openai', 'gemini'],
    ['gpt-4o', 'anthropic', 'openai'],
    ['o3-mini', 'openai', 'openai'],
    ['openai/gpt-5', 'openai', 'openai'],
    ['my-alias', 'anthropic', 'claude'],
    ['my-alias', 'gemini', 'gemini'],
    ['deepseek-chat', 'openai', 'generic'],
    ['llama3.1', 'ollama', 'generic'],
  ];
  for (const [model, dialect, family] of cases) t.equal(tokenFamilyFor(model, dialect).name, family, `${model} via ${dialect}`);
});

t.test('models before GPT-4o are counted in cl100k_base', async (t) => {
  for (const model of ['gpt-4', 'gpt-4-turbo', 'gpt-4-0613', 'gpt-3.5-turbo', 'openai/gpt-4']) t.equal(encodingFor(model), 'cl100k_base', model);
  for (const model of ['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'gpt-5', 'o1', 'claude-sonnet-4-5']) t.equal(encodingFor(model), 'o200k_base', model);
});

t.test('OpenAI reads tools as TypeScript types, not JSON schemas', async (t) => {
  const rendered = renderOpenAITool({
    name: 'book',
    description: 'Book a table',
    inputSchema: {
      type: 'object',
      required: ['when', 'party'],
      properties: {
        when: { type: 'string', description: 'ISO date' },
        party: { type: 'integer' },
        seating: { type: 'string', enum: ['inside', 'terrace'] },
        guests: { type: 'array', items: { type: 'object', properties: { name: { type: 'string', description: 'too deep to show' } } } },
        notes: { anyOf: [{ type: 'string' }, { type: 'null' }] },
      },
    },
  });
  t.equal(
    rendered,
    [
      '// Book a table',
      'type book = (_: {',
      '// ISO date',
      'when: string,',
      'party: number,',
      'seating?: "inside" | "terrace",',
      'guests?: {',
      '  name?: string,',
      '}[],',
      'notes?: any,',
      '}) => any;',
      '',
      '',
    ].join('\n'),
  );
  t.equal(renderOpenAITool({ name: 'now', inputSchema: { type: 'object', properties: {} } }), 'type now = () => any;\n\n');
});

t.test('each family frames the same request its own way', async (t) => {
  const counter = new TokenCounter({ log: pino({ level: 'silent' }), workers: 1 });
  t.teardown(() => counter.close());
  const request: CanonicalRequest = {
    model: 'any',
    system: [{ type: 'text', text: 'Be brief.' }],
    messages: [{ role: 'user', content: [{ type: 'text', text: 'What is the weather in Paris?' }] }],
    tools: [{ name: 'get_weather', description: 'Current weather', inputSchema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }],
    stream: false,
    extras: {},
  };
  const counts: Record<string, TokenCount> = Object.fromEntries(await Promise.all((['openai', 'claude', 'gemini', 'generic'] as const).map(async (family) => [family, await counter.count(request, { family })])));
  t.same(
    Object.fromEntries(Object.entries(counts).map(([family, count]) => [family, count.estimate])),
    { openai: false, claude: true, gemini: true, generic: true },
    'only OpenAI counts are exact',
  );
  t.ok(counts.claude.tokens > counts.openai.tokens + 300, 'Claude reads its tool-use system prompt');
  t.not(counts.generic.tokens, counts.openai.tokens, 'open models read tools as JSON schemas, OpenAI\'s as TypeScript');
  const toolless = { ...request, tools: [] };
  t.equal((await counter.count(toolless, { family: 'generic' })).tokens, (await counter.count(toolless, { family: 'openai' })).tokens, 'without tools, open models are framed like OpenAI\'s');
  const thinking = await counter.count({ ...request, thinking: { type: 'enabled', budgetTokens: 1024 } }, { family: 'claude' });
  t.equal(thinking.tokens - counts.claude.tokens, 30, 'thinking adds Claude\'s thinking prompt');
});
