/**
 * The benchmark harness, so that it cannot rot: `router-kernel bench --quick` runs every case
 * against real processes (mock upstreams, bare proxies, the router, the load generator) and
 * produces every field of the report. Speed is never asserted here; the numbers are too short to
 * mean anything.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { benchCases } from '../../bench/cases.ts';
import type { KeysScenario } from '../../bench/keys.ts';
import type { RoutingReport } from '../../bench/routing.ts';
import { checkTargets, renderMarkdown, updateDocs, type BenchReport } from '../../bench/report.ts';
import { ensureBuilt, testDir } from '../helpers/router.ts';

const bin = fileURLToPath(new URL('../../bin/router-kernel.js', import.meta.url));
await ensureBuilt();
t.setTimeout(240_000);

/** Node with these arguments, without the test runner's NODE_OPTIONS; what it printed and its exit code. */
async function runNode(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, stdout, stderr };
}

t.test('`router-kernel bench --quick` measures every case directly, through a bare proxy and through the router', async (t) => {
  const out = testDir(t);
  // At the router's default log level (a line per request), so the harness copes with its output.
  const { code, stdout, stderr } = await runNode(bin, 'bench', '--quick', '--log-level', 'info', '--out', out);
  t.equal(code, 0, `exit code (stderr: ${stderr.slice(-2000)})`);

  const report = JSON.parse(readFileSync(join(out, 'quick.json'), 'utf8')) as BenchReport;
  t.equal(report.quick, true);
  t.equal(report.logLevel, 'info');
  t.ok(report.machine.cpus > 0 && report.machine.node.startsWith('v'), 'the machine is recorded');
  t.ok(report.memory.startRssMb > 0 && report.memory.afterWarmUpRssMb > 0 && report.memory.idleRssMb > 0 && report.memory.peakRssMb >= report.memory.idleRssMb, 'start, after warm-up, idle and peak memory are recorded');

  const expected = benchCases.flatMap((c) => c.connections.map((n) => `${c.id} ×${n}`));
  t.same(report.measurements.map((m) => `${m.case} ×${m.connections}`), expected, 'every case at every connection count');
  for (const m of report.measurements) {
    const label = `${m.case} ×${m.connections}`;
    for (const [side, result] of [['direct', m.direct], ['bare proxy', m.floor], ['router', m.router]] as const) {
      t.ok(result, `${label}: ${side} measured`);
      if (!result) continue;
      t.ok(result.requests > 0, `${label}: ${side} answered requests`);
      t.equal(result.errors, 0, `${label}: ${side} without errors (${result.firstError ?? ''})`);
      t.ok(result.rps > 0 && result.latency.p50 > 0 && result.latency.p99 >= result.latency.p50, `${label}: ${side} throughput and latency`);
      if (m.stream) t.ok(result.ttfb.p50 > 0 && result.ttfb.p50 <= result.latency.p50, `${label}: ${side} time to first byte`);
    }
    t.ok(Number.isFinite(m.router.cpuMsPerRequest) && m.router.cpuMsPerRequest >= 0, `${label}: router CPU per request`);
    t.ok(m.bodyBytes > 500, `${label}: body size recorded`);
  }
  t.ok(report.measurements.some((m) => m.case === 'claude-code-470kb' && m.bodyBytes > 400_000), 'the Claude Code case really sends ~470 KB');

  const markdown = readFileSync(join(out, 'quick.md'), 'utf8');
  t.equal(stdout, markdown, 'the table is printed as well as written');
  for (const c of benchCases) t.match(markdown, c.title, `the table has a row for ${c.id}`);
  t.match(markdown, /quick mode: too short to quote/);
  t.match(markdown, /The router logs at level info \(a line per request\)/);
  for (const check of checkTargets(report)) t.match(markdown, check.target, 'every target is reported');
});

t.test('a mistyped option or case id gets the usage and exit code 2, before anything starts', async (t) => {
  const run = async (...args: string[]) => {
    const { code, stdout, stderr } = await runNode(bin, 'bench', ...args);
    return { code, out: stdout + stderr };
  };
  const typo = await run('--quik');
  t.equal(typo.code, 2);
  t.match(typo.out, /Unknown option '--quik'[\s\S]*usage: router-kernel bench/);
  const unknownCase = await run('--quick', '--cases', 'small-openai-passthrough,stream-translaton');
  t.equal(unknownCase.code, 2);
  t.match(unknownCase.out, /no case named stream-translaton/);
  t.notMatch(unknownCase.out, /req\/s/, 'nothing was measured');
  const level = await run('--quick', '--log-level', 'verbose');
  t.equal(level.code, 2);
  t.match(level.out, /--log-level must be one of fatal, error, warn, info, debug, trace, silent/);
  const help = await run('--help');
  t.equal(help.code, 0);
  t.match(help.out, /claude-code-growing/, 'the usage lists the case ids');
});

t.test('--write-docs replaces only what sits between the markers of docs/performance.md', async (t) => {
  const dir = testDir(t);
  const file = join(dir, 'performance.md');
  const start = '<!-- bench results: generated by npm run bench -- --write-docs -->';
  const end = '<!-- end of bench results -->';
  writeFileSync(file, `# Performance\n\nintro\n\n${start}\nold table\n${end}\n\n## What we tried\n`);
  const report: BenchReport = {
    date: '2026-11-23T12:00:00.000Z',
    quick: false,
    durationMs: 5000,
    logLevel: 'warn',
    machine: { cpus: 2, model: 'test cpu', memoryGb: 24, node: 'v20.0.0' },
    memory: { startRssMb: 80, afterWarmUpRssMb: 130, idleRssMb: 90, idleAfterS: 21, peakRssMb: 150 },
    measurements: [],
  };
  updateDocs(file, renderMarkdown(report));
  const doc = readFileSync(file, 'utf8');
  t.match(doc, /^# Performance\n\nintro\n\n/);
  t.notMatch(doc, /old table/);
  t.match(doc, /2 × test cpu, 24 GB, Node v20\.0\.0/);
  t.match(doc, /The router logs at level warn \(no line per request\)/);
  t.match(doc, /idle RSS ≤ 120 MB, at start \| 80 MB \| – \| yes/);
  t.match(doc, /idle RSS ≤ 120 MB, after every case \| 90 MB \(21 s after the last request\) \| – \| yes/);
  t.match(doc, /80 MB at start, 130 MB a second after the warm-up traffic, 90 MB idle after every case/);
  t.match(doc, /## What we tried\n$/);
  t.throws(() => updateDocs(join(dir, 'missing-markers.md'), 'x'), 'a file without markers is an error, not a silent rewrite');
});

t.test('`npm run bench:routing -- --quick` drives the real router plugin and token pool and prints every number', async (t) => {
  const { code, stdout, stderr } = await runNode('--import', 'tsx', fileURLToPath(new URL('../../bench/routing.ts', import.meta.url)), '--quick');
  t.equal(code, 0, stderr.slice(-2000));
  const report = JSON.parse(stdout.trim().split('\n').at(-1)!) as RoutingReport;
  t.ok(report.lastTurnTokens > report.firstTurnTokens && report.firstTurnTokens > 10_000, 'a growing conversation of real size');
  for (const side of [report.router, report.mainThread]) {
    for (const [field, value] of Object.entries(side)) t.ok(Number.isFinite(value) && value >= 0, `${field} measured`);
  }
  for (const row of ['decision per turn after the first, median', 'first turn (nothing cached)', 'event-loop delay p99', 'main thread / router-kernel']) t.match(stdout, row);
});

t.test('`npm run bench:keys -- --quick` runs every key-pool scenario and prints the table', async (t) => {
  const { code, stdout, stderr } = await runNode('--import', 'tsx', fileURLToPath(new URL('../../bench/keys.ts', import.meta.url)), '--quick');
  t.equal(code, 0, stderr.slice(-2000));
  const results = JSON.parse(stdout.trim().split('\n').at(-1)!) as KeysScenario[];
  t.same(results.map((r) => r.name), ['one key, no scheduler', 'one key, scheduler', 'three keys, scheduler', 'three keys, sequential']);
  for (const r of results) t.equal(r.completed + r.clientRateLimited + r.otherErrors, 90, `${r.name}: every request answered`);
  t.equal(results[1].clientRateLimited, 0, 'with the scheduler, clients wait instead of seeing 429s');
  t.ok(results[0].clientRateLimited > 0, 'without it, they do');
  t.match(stdout, /\| three keys, scheduler \| 90 \|/);
});
