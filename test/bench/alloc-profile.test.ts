/**
 * The allocation profile preload (bench/alloc-profile.cjs), so that the measure the performance
 * notes compare builds by keeps working: preloaded into the router, it counts the requests served
 * while it samples and reports bytes per request and where they were allocated when the router is
 * stopped. No amount is asserted, only that a real one is reported.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { request } from 'undici';
import { ensureBuilt, mockConfig, testDir } from '../helpers/router.ts';
import { waitFor } from '../helpers/wait.ts';

const bin = fileURLToPath(new URL('../../bin/router-kernel.js', import.meta.url));
const preload = fileURLToPath(new URL('../../bench/alloc-profile.cjs', import.meta.url));
await ensureBuilt();

t.test('preloaded into the router, it reports KB per request and the top allocation sites on SIGTERM', async (t) => {
  const dir = testDir(t);
  writeFileSync(join(dir, 'router.yaml'), `server:\n  port: 0\nlog:\n  level: warn\n${mockConfig}`);
  const out = join(dir, 'alloc.heapprofile');
  const child = spawn(process.execPath, ['--require', preload, bin, '--no-watch'], {
    cwd: dir,
    env: { ...process.env, NODE_OPTIONS: '', ALLOC_PROFILE_AFTER_MS: '0', ALLOC_PROFILE_OUT: out, ALLOC_PROFILE_TOP: '5' },
  });
  t.teardown(() => void child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const url = (await waitFor(() => /ready on (http:\/\/\S+)/.exec(stdout), 15000, 'the ready line'))![1];

  for (let i = 0; i < 40; i++) {
    const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', max_tokens: 20, messages: [{ role: 'user', content: `hello ${i}` }] }) });
    t.equal(res.statusCode, 200);
    await res.body.dump();
  }
  child.kill('SIGTERM');
  t.equal(await exit, 0, 'the router still shuts down cleanly');
  const line = /alloc: ([\d.]+) KB per request over (\d+) requests/.exec(stderr);
  t.ok(line, `the summary line (stderr: ${stderr.slice(-1000)})`);
  t.equal(Number(line![2]), 40, 'every request served while sampling is counted');
  t.ok(Number(line![1]) > 0, 'a real amount per request');
  t.equal(stderr.split('\n').filter((l) => /^\s+[\d.]+%\s+\S/.test(l)).length, 5, 'the top five allocation sites');
  t.ok(existsSync(out) && (JSON.parse(readFileSync(out, 'utf8')) as { head?: unknown }).head, 'the profile written for DevTools');
});
