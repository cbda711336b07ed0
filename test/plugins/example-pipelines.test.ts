/** Every example pipeline and the shipped router.yaml compile (with placeholder keys). */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import t from 'tap';
import { loadConfig } from '../../core/config/load.ts';
import { compileGeneration } from '../../core/generation/compile.ts';
import { SharedResources } from '../../core/generation/shared-resources.ts';
import { TokenCounter } from '../../core/tokens/token-counter.ts';

const env = { DEEPSEEK_API_KEY: 'sk-x', OPENROUTER_API_KEY: 'sk-or-x', ROUTER_KEY: 'rk-x' };
const dir = fileURLToPath(new URL('../../pipelines/', import.meta.url));
const files = [fileURLToPath(new URL('../../router.yaml', import.meta.url)), ...readdirSync(dir).filter((f) => f.endsWith('.yaml')).map((f) => dir + f)];

for (const file of files) {
  t.test(`${file.split('/').slice(-2).join('/')} is a valid configuration`, async (t) => {
    const loaded = await loadConfig(file, env);
    const generation = await compileGeneration(loaded, undefined, { id: 1, log: pino({ level: 'silent' }), shared: new SharedResources(), tokens: new TokenCounter({ log: pino({ level: 'silent' }) }), provision: false });
    t.ok(generation.providers.size > 0);
  });
}
