/**
 * A custom router: a local TypeScript file with `route(request, context)`, placed before the
 * built-in router, hot-reloaded when edited while the router runs.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { startTestRouter } from '../../helpers/router.ts';
import { waitFor } from '../../helpers/wait.ts';

const config = `
providers:
  a: { use: mock, models: [m] }
  b: { use: mock, models: [m] }
  c: { use: mock, models: [m] }
pipeline:
  - use: ./my-router.ts
    with: { long: 30 }
  - use: router
    with: { default: a/m }
`;

const routerFile = (body: string) => `
import { defineRouter } from 'router-kernel';

export default defineRouter<{ long: number }>({
  id: 'my-router',
  schema: { type: 'object', properties: { long: { type: 'integer' } } },
  async route(request, { headers, tokens, options }) {
${body}
  },
});
`;

async function routeOf(url: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<string> {
  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  await res.body.dump();
  return `${res.statusCode} ${String(res.headers['x-router-route'] ?? '')}`;
}

const small = (content = 'hi', model = 'claude-sonnet-4-5') => ({ model, max_tokens: 50, messages: [{ role: 'user', content }] });

t.test('a custom router file decides first, and its edits apply while the router runs', async (t) => {
  const first = routerFile(`
    if (headers['x-team'] === 'research') return 'b/m';
    if ((await tokens()) > options.long) return ['c/m', 'a/m'];
    if (request.system.length > 0) return { provider: 'c', model: 'm', reason: 'has-system' };`);
  const r = await startTestRouter(t, config, { watch: true, files: { 'my-router.ts': first } });
  t.equal(await routeOf(r.url, small(), { 'x-team': 'research' }), '200 b/m; reason=custom:my-router');
  t.equal(await routeOf(r.url, small('word '.repeat(40))), '200 c/m; reason=custom:my-router', 'a count through the shared counter');
  t.equal(await routeOf(r.url, { ...small(), system: 'be brief' }), '200 c/m; reason=has-system');
  t.equal(await routeOf(r.url, small()), '200 a/m; reason=default', 'nothing returned: the built-in router decides');
  t.equal(await routeOf(r.url, small('hi', 'b,m'), { 'x-team': 'research' }), '200 b/m; reason=explicit', 'an explicit client choice is not second-guessed');

  writeFileSync(join(r.dir, 'my-router.ts'), routerFile(`    return 'c/m';`));
  await waitFor(async () => (await routeOf(r.url, small())) === '200 c/m; reason=custom:my-router', 5000, 'the edited router');
  t.ok(r.logs.some((line) => /config reloaded/.test(line.msg)), 'the edit reloaded the pipeline');
});

t.test('a custom router naming an unconfigured provider gets a clear 404, and the next request is fine', async (t) => {
  const r = await startTestRouter(t, config, { files: { 'my-router.ts': routerFile(`    if (headers['x-bad']) return 'nowhere/m';`) } });
  const res = await request(`${r.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-bad': '1' }, body: JSON.stringify(small()) });
  t.equal(res.statusCode, 404);
  t.match(await res.body.json(), { type: 'error', error: { type: 'not_found_error', message: /provider "nowhere", which is not configured \(providers: a, b, c\)/ } });
  t.equal(await routeOf(r.url, small()), '200 a/m; reason=default');
});

t.test('a custom router exported as a bare { route } object needs no import, and is named after its file', async (t) => {
  const bare = `export default {
  route(request, { headers }) {
    if (headers['x-team'] === 'research') return 'b/m';
  },
};
`;
  const r = await startTestRouter(t, config, { files: { 'my-router.ts': bare } });
  t.equal(await routeOf(r.url, small(), { 'x-team': 'research' }), '200 b/m; reason=custom:my-router');
  t.equal(await routeOf(r.url, small()), '200 a/m; reason=default');
});

t.test('a bare router may name itself', async (t) => {
  const r = await startTestRouter(t, config, { files: { 'my-router.ts': "export default { id: 'teams', route: () => 'c/m' };\n" } });
  t.equal(await routeOf(r.url, small()), '200 c/m; reason=custom:teams');
});
