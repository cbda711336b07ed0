/**
 * Claude Code itself (the official CLI, headless and offline) runs a tool-using task through the
 * router to providers of other dialects: the router translates its Anthropic requests, the
 * provider's tool call comes back as a tool_use Claude Code executes, and the final answer arrives.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { Dialect } from '../../core/canonical.ts';
import { startTestRouter } from '../helpers/router.ts';
import { lastToolResult, scriptedUpstream } from '../helpers/scripted-upstream.ts';

const claude = fileURLToPath(new URL('../../node_modules/.bin/claude', import.meta.url));

function runClaude(baseUrl: string, cwd: string, prompt: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const home = mkdtempSync(join(tmpdir(), 'rk-claude-home-'));
  return new Promise((resolve) => {
    const child = spawn(claude, ['-p', prompt, '--output-format', 'json', '--allowedTools', 'Write'], {
      cwd,
      env: { PATH: process.env.PATH, HOME: home, ANTHROPIC_BASE_URL: baseUrl, ANTHROPIC_API_KEY: 'any', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', DISABLE_AUTOUPDATER: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      rmSync(home, { recursive: true, force: true });
      resolve({ code, stdout, stderr });
    });
  });
}

const providers: Array<{ dialect: Dialect; use: string; path: string }> = [
  { dialect: 'openai', use: 'openai', path: '/v1' },
  { dialect: 'gemini', use: 'gemini', path: '/v1beta' },
];

for (const { dialect, use, path } of providers) {
  t.test(`Claude Code runs a Write tool through the router to a provider speaking ${dialect} and gets the final answer`, { timeout: 120_000 }, async (t) => {
    const work = mkdtempSync(join(tmpdir(), 'rk-claude-work-'));
    t.teardown(() => rmSync(work, { recursive: true, force: true }));
    const proof = join(work, 'proof.txt');
    const upstream = await scriptedUpstream(dialect, (request) => {
      const result = lastToolResult(request);
      if (result !== undefined) return { text: `Done. The tool said: ${result.slice(0, 200)}` };
      if (request.tools.some((tool) => tool.name === 'Write')) {
        return { text: 'I will write the file.', toolCalls: [{ id: 'call_write_1', name: 'Write', input: { file_path: proof, content: `written through router-kernel to ${dialect}\n` } }] };
      }
      return { text: 'ok' }; // side requests (titles, summaries)
    });
    t.teardown(() => upstream.close());
    const { url } = await startTestRouter(t, `
providers:
  up:
    use: ${use}
    base_url: ${upstream.url}${path}
    api_key: upstream-key
    models: [up-model]
pipeline:
  - use: router
    with: { default: up/up-model }
`);
    const run = await runClaude(url, work, 'Create proof.txt with the Write tool.');
    t.equal(run.code, 0, `claude exited cleanly${run.code === 0 ? '' : `: ${run.stderr.slice(0, 500)} ${run.stdout.slice(0, 500)}`}`);
    const result = JSON.parse(run.stdout) as { is_error: boolean; result: string; num_turns: number };
    t.equal(result.is_error, false);
    t.match(result.result, /^Done\. The tool said: /, 'the final answer arrived');
    t.ok(existsSync(proof), 'the tool really ran');
    t.equal(readFileSync(proof, 'utf8'), `written through router-kernel to ${dialect}\n`);
    const withTools = upstream.requests.filter((r) => r.tools.some((tool) => tool.name === 'Write'));
    t.ok(withTools.length >= 2, 'the conversation went to the provider twice: the task, then the tool result');
    t.ok(withTools.some((r) => lastToolResult(r) !== undefined), 'the tool result reached the provider');
  });
}
