/**
 * Plugin lifecycle across generations: instance reuse, state handover, cleanup order, and cleanup
 * after a provisioning that failed halfway, with a local TypeScript plugin referenced by path.
 */
import t from 'tap';
import { request } from 'undici';
import { startTestRouter } from '../helpers/router.ts';
import { events, probePluginSource, resetEvents } from './probe-plugin.ts';

const config = (probes: Array<{ name: string; tag: string; fail?: string }>) => `
providers:
  mock:
    use: mock
    models: [m]
pipeline:
${probes.map((p) => `  - use: ./probe.ts\n    name: ${p.name}\n    with: { tag: ${p.tag}${p.fail ? `, fail: ${p.fail}` : ''} }`).join('\n')}
  - use: router
    with: { default: mock/m }
`;

async function ask(url: string) {
  const res = await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', messages: [{ role: 'user', content: 'hi' }] }) });
  await res.body.dump();
  return res;
}

t.beforeEach(() => resetEvents());

t.test('a TypeScript plugin file referenced by relative path runs in the pipeline', async (t) => {
  const { url } = await startTestRouter(t, config([{ name: 'a', tag: 'a' }]), { files: { 'probe.ts': probePluginSource } });
  const res = await ask(url);
  t.equal(res.statusCode, 200);
  t.equal(res.headers['x-probe-a'], '1');
  t.same(events(), ['create a', 'provision a']);
});

t.test('an unchanged plugin keeps its instance across a reload; a changed one is replaced and inherits state', async (t) => {
  const r = await startTestRouter(t, config([{ name: 'a', tag: 'a' }, { name: 'b', tag: 'b' }]), { files: { 'probe.ts': probePluginSource } });
  await ask(r.url);
  await ask(r.url);
  r.writeConfig(config([{ name: 'a', tag: 'a' }, { name: 'b', tag: 'b2' }]));
  t.match(await r.router.reload(), { ok: true, generation: 2 });
  const res = await ask(r.url);
  t.equal(res.headers['x-probe-a'], '3', 'a kept counting: same instance');
  t.equal(res.headers['x-probe-b2'], '3', 'b2 took over the state of b');
  await new Promise((resolve) => setTimeout(resolve, 50)); // the old generation drains (nothing in flight) and is cleaned up
  t.same(events(), ['create a', 'create b', 'provision a', 'provision b', 'handover b', 'create b2', 'provision b2', 'cleanup b']);
});

t.test('shutdown cleans plugins up in reverse order', async (t) => {
  const r = await startTestRouter(t, config([{ name: 'a', tag: 'a' }, { name: 'b', tag: 'b' }, { name: 'c', tag: 'c' }]), { files: { 'probe.ts': probePluginSource } });
  await r.router.close();
  t.same(events().filter((e) => e.startsWith('cleanup')), ['cleanup c', 'cleanup b', 'cleanup a']);
});

t.test('a provision failing halfway cleans up what started, in reverse, and the old config keeps serving', async (t) => {
  const r = await startTestRouter(t, config([{ name: 'a', tag: 'a' }]), { files: { 'probe.ts': probePluginSource } });
  resetEvents();
  r.writeConfig(config([{ name: 'x', tag: 'x' }, { name: 'y', tag: 'y' }, { name: 'z', tag: 'z', fail: 'provision' }, { name: 'w', tag: 'w' }]));
  const result = await r.router.reload();
  t.equal(result.ok, false);
  t.match(!result.ok && result.error.message, /router\.yaml:\d+:\d+ pipeline\[2\]: plugin "middleware\.probe" failed to start \(provision\): cannot start z/);
  t.same(events(), ['create x', 'create y', 'create z', 'create w', 'provision x', 'provision y', 'provision z', 'cleanup z', 'cleanup y', 'cleanup x']);
  const res = await ask(r.url);
  t.equal(res.statusCode, 200);
  t.equal(res.headers['x-probe-a'], '1', 'generation 1 still answers');
  t.equal(r.router.generation().id, 1);
});

t.test('a plugin whose create throws rejects the config without provisioning anything', async (t) => {
  const r = await startTestRouter(t, config([{ name: 'a', tag: 'a' }]), { files: { 'probe.ts': probePluginSource } });
  resetEvents();
  r.writeConfig(config([{ name: 'a', tag: 'a' }, { name: 'b', tag: 'b', fail: 'create' }]));
  const result = await r.router.reload();
  t.match(!result.ok && result.error.message, /pipeline\[1\]: plugin "middleware\.probe" failed to create: cannot create b/);
  t.same(events(), ['create b']);
});

t.test('an npm package plugin is resolved from the config folder', async (t) => {
  const pkg = {
    'node_modules/rk-stamp/package.json': JSON.stringify({ name: 'rk-stamp', version: '2.1.0', type: 'module', exports: './index.js', 'router-kernel': { kind: 'middleware' } }),
    // A plain object default export, no imports: accepted as a plugin definition.
    'node_modules/rk-stamp/index.js': `export default {
      id: 'rk-stamp', kind: 'middleware', version: '2.1.0',
      schema: { type: 'object', properties: { value: { type: 'string', default: 'stamped' } } },
      create(options) { return { async handle(ctx, next) { await next(); ctx.setHeader('x-stamp', options.value); } }; },
    };`,
    'node_modules/not-a-plugin/package.json': JSON.stringify({ name: 'not-a-plugin', version: '1.0.0', main: 'index.js' }),
    'node_modules/not-a-plugin/index.js': 'module.exports = {};',
  };
  const r = await startTestRouter(t, 'providers:\n  mock:\n    use: mock\n    models: [m]\npipeline:\n  - use: rk-stamp\n  - use: router\n    with: { default: mock/m }\n', { files: pkg });
  const res = await ask(r.url);
  t.equal(res.statusCode, 200);
  t.equal(res.headers['x-stamp'], 'stamped');
  r.writeConfig('providers:\n  mock:\n    use: mock\n    models: [m]\npipeline:\n  - use: not-a-plugin\n');
  const result = await r.router.reload();
  t.match(!result.ok && result.error.message, /pipeline\[0\]\.use: npm package "not-a-plugin" is not a router-kernel plugin/);
});

t.test('a local plugin outside any project still imports the running router-kernel', async (t) => {
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { startRouter } = await import('../../core/router.ts');
  const { createLogger } = await import('../../core/logger.ts');
  const dir = mkdtempSync(join(tmpdir(), 'rk-outside-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'probe.ts'), probePluginSource);
  writeFileSync(join(dir, 'router.yaml'), config([{ name: 'a', tag: 'far' }]));
  const router = await startRouter({ configFile: join(dir, 'router.yaml'), port: 0, watch: false, logger: createLogger({ level: 'silent' }) });
  t.teardown(() => router.close());
  const res = await ask(router.url);
  t.equal(res.headers['x-probe-far'], '1');
});

t.test('a syntax error in a plugin file is reported with its file and line', async (t) => {
  const r = await startTestRouter(t, config([{ name: 'a', tag: 'a' }]), { files: { 'probe.ts': probePluginSource } });
  const { writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  writeFileSync(join(r.dir, 'probe.ts'), probePluginSource.replace('create(options, scope) {', 'create(options, scope) {{'));
  const result = await r.router.reload();
  t.match(!result.ok && result.error.message, /pipeline\[0\]\.use: cannot load \.\/probe\.ts: .*probe\.ts:\d+:\d+/);
});

t.test('a handover that throws rejects the reload without leaking the instances it would have reused', async (t) => {
  const throwing = probePluginSource.replace("events.push('handover ' + options.tag);", "events.push('handover ' + options.tag); if (options.tag === 'b') throw new Error('cannot hand over');");
  const r = await startTestRouter(t, config([{ name: 'a', tag: 'a' }, { name: 'b', tag: 'b' }]), { files: { 'probe.ts': throwing } });
  r.writeConfig(config([{ name: 'a', tag: 'a' }, { name: 'b', tag: 'b2' }]));
  const result = await r.router.reload();
  t.match(!result.ok && result.error.message, /pipeline\[1\]: plugin "middleware\.probe" failed to create: cannot hand over/);
  resetEvents();
  await r.router.close();
  t.same(events(), ['cleanup b', 'cleanup a'], 'both instances of the live generation are cleaned up once, at shutdown');
});
