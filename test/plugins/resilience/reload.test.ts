/**
 * Resilience state across reloads: the kernel tells plugins when a configuration has gone live
 * (`activate`), which is when shared state may take new settings; counters carry over.
 */
import t from 'tap';
import { request } from 'undici';
import { startTestRouter } from '../../helpers/router.ts';

/** A plugin that records its lifecycle hooks, and whether a request could see its generation yet. */
const recorder = `
import { definePlugin } from 'router-kernel';
const events: string[] = ((globalThis as any).__rkActivate ??= []);
export default definePlugin({
  id: 'middleware.recorder', kind: 'middleware', version: '1.0.0',
  schema: { type: 'object', properties: { tag: { type: 'string' }, fail: { type: 'boolean' } } },
  create(options: { tag: string; fail?: boolean }) {
    return {
      provision() { events.push('provision ' + options.tag); },
      validate() { events.push('validate ' + options.tag); if (options.fail) throw new Error('refused'); },
      activate(live: { id: number; catalog: { providers(): string[] }; clientAuth: boolean }) {
        events.push('activate ' + options.tag + ' generation=' + live.id + ' providers=' + live.catalog.providers().join(',') + ' auth=' + live.clientAuth);
      },
    };
  },
});
`;

const events = (): string[] => ((globalThis as any).__rkActivate ??= []);

const config = (tag: string, fail = false, auth = '') => `
server: { admin_key: admin-0123456789${auth} }
providers:
  mock: { use: mock, models: [m] }
pipeline:
  - use: ./recorder.ts
    with: { tag: ${tag}, fail: ${fail} }
  - use: router
    with: { default: mock/m }
`;

t.test('activate runs once a configuration is live, for reused instances too, and never for a rejected one', async (t) => {
  events().length = 0;
  const r = await startTestRouter(t, config('a'), { files: { 'recorder.ts': recorder } });
  t.same(events(), ['provision a', 'validate a', 'activate a generation=1 providers=mock auth=false']);

  events().length = 0;
  r.writeConfig(config('b', true));
  t.match(await r.router.reload('test'), { ok: false });
  t.same(events(), ['provision b', 'validate b'], 'provisioned and validated, never activated');

  events().length = 0;
  r.writeConfig(config('a', false, ', auth: { keys: [client-key-0000] }'));
  t.match(await r.router.reload('test'), { ok: true });
  t.same(events(), ['validate a', 'activate a generation=3 providers=mock auth=true'], 'the reused instance hears of its new generation');
  const res = await request(`${r.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer client-key-0000' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) });
  t.equal(res.statusCode, 200);
  await res.body.dump();
});
