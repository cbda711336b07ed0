/**
 * The `router-kernel` command as users run it: a real child process, its output and exit codes,
 * and its signals.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { request } from 'undici';
import { ensureBuilt, testDir } from '../helpers/router.ts';
import { waitFor } from '../helpers/wait.ts';

const bin = fileURLToPath(new URL('../../bin/router-kernel.js', import.meta.url));
await ensureBuilt();

interface Child {
  proc: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

function run(args: string[], cwd: string): Child {
  const proc = spawn(process.execPath, [bin, ...args], { cwd, env: { ...process.env, NODE_OPTIONS: '' } });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, stdout: () => out, stderr: () => err, exit };
}

async function started(child: Child, t: Tap): Promise<string> {
  t.teardown(() => void child.proc.kill('SIGKILL'));
  const line = await waitFor(() => /ready on (http:\/\/\S+)/.exec(child.stdout()), 15000, 'the ready line').catch((err: Error) => {
    throw new Error(`${err.message}\nstdout: ${child.stdout()}\nstderr: ${child.stderr()}`);
  });
  return line![1];
}

type Tap = { teardown(fn: () => unknown): void };

const config = (reply: string, port = 0) => `server:\n  port: ${port}\nproviders:\n  mock:\n    use: mock\n    models: [m1, m2]\n    reply: "${reply}"\n    chunk_words: 1\n    chunk_delay: 30ms\npipeline:\n  - use: router\n    with: { default: mock/m1 }\n`;

async function ask(url: string): Promise<string> {
  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }) });
  return ((await res.body.json()) as { content: Array<{ text: string }> }).content[0].text;
}

t.test('validate accepts a good config and exits 0', async (t) => {
  const dir = testDir(t);
  writeFileSync(join(dir, 'router.yaml'), config('ok'));
  const child = run(['validate'], dir);
  t.equal(await child.exit, 0);
  t.match(child.stdout(), /router\.yaml is valid: providers mock; pipeline router/);
});

t.test('validate rejects a bad config with file, line and path, and exits 1', async (t) => {
  const dir = testDir(t);
  writeFileSync(join(dir, 'bad.yaml'), 'providers:\n  mock:\n    use: mock\n    latency: later\npipeline:\n  - use: router\n    with: { deflt: mock/m1 }\n');
  const child = run(['validate', 'bad.yaml'], dir);
  t.equal(await child.exit, 1);
  t.match(child.stderr(), /bad\.yaml:4:5 providers\.mock\.latency: must be a duration/);
  t.match(child.stderr(), /bad\.yaml:7:\d+ pipeline\[0\]\.with\.default: is required/);
  t.match(child.stderr(), /pipeline\[0\]\.with\.deflt: is not a known field \(did you mean "default"\?\)/);
  t.match(child.stderr(), /3 problems found; the config is not valid/);
});

t.test('start prints one ready line, serves, and SIGTERM drains a stream in flight then exits 0', async (t) => {
  const dir = testDir(t);
  const reply = Array.from({ length: 20 }, (_, i) => `w${i}`).join(' ');
  writeFileSync(join(dir, 'router.yaml'), config(reply));
  const child = run([], dir);
  const url = await started(child, t);
  t.match(child.stdout(), new RegExp(`router-kernel \\S+ ready on http://127\\.0\\.0\\.1:\\d+ · config ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/router\\.yaml · providers: mock \\(m1, m2\\)`));
  t.equal(child.stdout().trim().split('\n').length, 1, 'exactly one line on stdout');

  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', max_tokens: 500, stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
  let body = '';
  const reading = (async () => {
    for await (const chunk of res.body) body += chunk.toString();
  })();
  await waitFor(() => body.includes('w2'), 5000, 'the stream to start');
  child.proc.kill('SIGTERM');
  await reading;
  t.match(body, /w19/, 'the stream finished');
  t.match(body, /event: message_stop/);
  t.equal(await child.exit, 0);
  t.match(child.stderr(), /shutting down: draining/);
});

t.test('SIGHUP reloads router.yaml (with watching off)', async (t) => {
  const dir = testDir(t);
  writeFileSync(join(dir, 'router.yaml'), config('first'));
  const child = run(['--no-watch'], dir);
  const url = await started(child, t);
  t.equal(await ask(url), 'first');
  writeFileSync(join(dir, 'router.yaml'), config('second'));
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.equal(await ask(url), 'first', 'no reload without the signal');
  child.proc.kill('SIGHUP');
  await waitFor(async () => (await ask(url)) === 'second', 5000, 'the reload');
  child.proc.kill('SIGINT');
  t.equal(await child.exit, 0);
});

t.test('--config, --host and --port override the file and its listen address', async (t) => {
  const dir = testDir(t);
  writeFileSync(join(dir, 'other.yaml'), config('other', 1));
  const child = run(['--config', 'other.yaml', '--host', '127.0.0.1', '--port', '0'], dir);
  const url = await started(child, t);
  t.notMatch(url, /:1$/);
  t.equal(await ask(url), 'other');
  child.proc.kill('SIGTERM');
  t.equal(await child.exit, 0);
});

t.test('a port already in use is a clear error and a non-zero exit', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const dir = testDir(t);
  writeFileSync(join(dir, 'router.yaml'), config('x'));
  const child = run(['--port', String(port)], dir);
  t.equal(await child.exit, 1);
  t.match(child.stderr(), new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is already in use`));
});

t.test('without ./router.yaml it starts on the built-in default and answers through the mock', async (t) => {
  const dir = testDir(t);
  const child = run(['--port', '0'], dir);
  const url = await started(child, t);
  t.match(child.stderr(), /no \.\/router\.yaml here; using the built-in default/);
  t.match(await ask(url), /mock provider/);
  child.proc.kill('SIGTERM');
  t.equal(await child.exit, 0);
});

t.test('a config that cannot start is reported and exits 1', async (t) => {
  const dir = testDir(t);
  writeFileSync(join(dir, 'router.yaml'), 'providers:\n  p:\n    use: openai\n    base_url: http://x/v1\n    api_key: ${MISSING_KEY_FOR_TEST}\n');
  const child = run([], dir);
  t.equal(await child.exit, 1);
  t.match(child.stderr(), /router\.yaml:5:\d+ providers\.p\.api_key: environment variable MISSING_KEY_FOR_TEST is not set/);
});

t.test('--help and unknown commands', async (t) => {
  const dir = testDir(t);
  const help = run(['--help'], dir);
  t.equal(await help.exit, 0);
  t.match(help.stdout(), /Usage:\n  router-kernel \[start\]/);
  const bad = run(['frobnicate'], dir);
  t.equal(await bad.exit, 2);
  t.match(bad.stderr(), /unknown command "frobnicate"/);
});

t.test('the built router loads a TypeScript plugin file (tsx is registered on demand)', async (t) => {
  const dir = testDir(t);
  writeFileSync(join(dir, 'stamp.ts'), "import { definePlugin } from 'router-kernel';\nconst value: string = 'from-ts';\nexport default definePlugin({ id: 'middleware.stamp', kind: 'middleware', version: '1.0.0', create() { return { async handle(ctx, next) { await next(); ctx.setHeader('x-stamp', value); } }; } });\n");
  writeFileSync(join(dir, 'router.yaml'), config('typed').replace('pipeline:\n', 'pipeline:\n  - use: ./stamp.ts\n'));
  const child = run([], dir);
  const url = await started(child, t);
  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }) });
  await res.body.dump();
  t.equal(res.headers['x-stamp'], 'from-ts');
  child.proc.kill('SIGTERM');
  t.equal(await child.exit, 0);
});
