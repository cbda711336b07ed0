/**
 * `npm run bench` / `router-kernel bench`: measures router-kernel against the direct upstream, in
 * one run, on 127.0.0.1. Starts the mock upstreams (fast and paced) and the router as separate
 * processes, drives each case with the load generator (another process) directly and through the
 * router, and writes bench/results/latest.json and latest.md (and docs/performance.md with
 * --write-docs). Every run is bounded in time and stops what it started.
 *
 *   npm run bench                 # full run (a few minutes)
 *   npm run bench -- --quick      # every case briefly (checks the harness, not the speed)
 *   npm run bench -- --cases small-anthropic-translation,stream-translation --duration 10
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchCases, directBody, pathOf, providerDialect, routed, type BenchCase } from './cases.ts';
import type { LoadResult } from './load.ts';
import { cpuMs, memoryMb } from './proc-stats.ts';
import { renderMarkdown, updateDocs, type BenchReport, type Measurement } from './report.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const here = fileURLToPath(new URL('./', import.meta.url));

export async function runBench(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      duration: { type: 'string' },
      cases: { type: 'string' },
      out: { type: 'string', default: join(here, 'results') },
      'write-docs': { type: 'boolean', default: false },
    },
  });
  const durationMs = values.duration ? Number(values.duration) * 1000 : values.quick ? 400 : 5000;
  const warmupMs = values.quick ? 150 : 1000;
  const selected = values.cases ? benchCases.filter((c) => values.cases!.split(',').includes(c.id)) : benchCases;
  const work = mkdtempSync(join(tmpdir(), 'rk-bench-'));
  const children: ChildProcess[] = [];
  const stopAll = () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  };
  process.once('SIGINT', () => {
    stopAll();
    process.exit(130);
  });

  try {
    const fast = await startProcess(children, ['--import', 'tsx', join(here, 'mock-upstream.ts'), '--port', '0'], /listening (\d+)/);
    const paced = await startProcess(children, ['--import', 'tsx', join(here, 'mock-upstream.ts'), '--port', '0', '--pace', '5'], /listening (\d+)/);
    const mocks = { fast: `http://127.0.0.1:${fast.match[1]}`, paced: `http://127.0.0.1:${paced.match[1]}` };
    const configFile = join(work, 'router.yaml');
    writeFileSync(configFile, benchConfig(mocks.fast, mocks.paced));
    const router = await startProcess(children, [join(root, 'bin/router-kernel.js'), '--config', configFile, '--port', '0', '--no-watch'], /ready on (http:\/\/\S+)/);
    const routerUrl = router.match[1];
    const pid = router.child.pid!;

    // Warm the router's code paths, then let it settle before reading its idle memory.
    for (const c of selected) await load(work, { url: routerUrl, path: pathOf(c.client), bodies: [routed(c, c.bodies()[0])], connections: 2, durationMs: values.quick ? 100 : 500, warmupMs: 0 });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const idle = memoryMb(pid);

    const measurements: Measurement[] = [];
    for (const c of selected) {
      const bodies = c.bodies();
      for (const connections of c.connections) {
        const target = c.provider.endsWith('paced') ? mocks.paced : mocks.fast;
        const direct = await load(work, { url: target, path: pathOf(providerDialect(c)), bodies: bodies.map((b) => directBody(c, b)), connections, durationMs, warmupMs });
        const cpuBefore = cpuMs(pid);
        const viaRouter = await load(work, { url: routerUrl, path: pathOf(c.client), bodies: bodies.map((b) => routed(c, b)), connections, durationMs, warmupMs });
        const cpu = cpuMs(pid) - cpuBefore;
        measurements.push({ case: c.id, title: c.title, mode: c.mode, stream: c.stream, connections, bodyBytes: Math.round(bodies.reduce((n, b) => n + Buffer.byteLength(JSON.stringify(b)), 0) / bodies.length), direct, router: { ...viaRouter, cpuMsPerRequest: round(cpu / Math.max(1, viaRouter.total)) } });
        process.stderr.write(`${c.id} ×${connections}: direct ${direct.rps} req/s, router ${viaRouter.rps} req/s (${pct(viaRouter.rps / direct.rps)})\n`);
      }
    }
    const peak = memoryMb(pid);
    const report: BenchReport = {
      date: new Date().toISOString(),
      quick: values.quick === true,
      durationMs,
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version },
      memory: { idleRssMb: idle.rss, peakRssMb: peak.peak },
      measurements,
    };
    mkdirSync(values.out!, { recursive: true });
    writeFileSync(join(values.out!, 'latest.json'), JSON.stringify(report, null, 2) + '\n');
    const markdown = renderMarkdown(report);
    writeFileSync(join(values.out!, 'latest.md'), markdown);
    if (values['write-docs']) updateDocs(join(root, 'docs/performance.md'), markdown);
    process.stdout.write(markdown);
    return 0;
  } finally {
    stopAll();
    rmSync(work, { recursive: true, force: true });
  }
}

interface LoadSpec {
  url: string;
  path: string;
  bodies: Array<Record<string, unknown>>;
  connections: number;
  durationMs: number;
  warmupMs: number;
}

async function load(work: string, spec: LoadSpec): Promise<LoadResult> {
  const bodiesFile = join(work, 'bodies.json');
  writeFileSync(bodiesFile, JSON.stringify(spec.bodies.map((b) => JSON.stringify(b))));
  const specFile = join(work, 'spec.json');
  const headers = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', authorization: 'Bearer bench' };
  writeFileSync(specFile, JSON.stringify({ url: spec.url, path: spec.path, headers, bodiesFile, connections: spec.connections, durationMs: spec.durationMs, warmupMs: spec.warmupMs }));
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'load.ts'), specFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  // Bounded: the generator stops itself; this only guards against a hang.
  const timer = setTimeout(() => child.kill('SIGKILL'), spec.durationMs + spec.warmupMs + 60_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`load generator exited with ${code}`);
  return JSON.parse(out) as LoadResult;
}

async function startProcess(children: ChildProcess[], args: string[], ready: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
  children.push(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} did not start:\n${err}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const match = ready.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, match });
      }
    });
    child.on('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}:\n${err}`)));
  });
}

function benchConfig(fast: string, paced: string): string {
  return `# generated by bench/run.ts
server:
  port: 0
  body_limit: 64mb
log:
  level: warn
watch: false
providers:
  oai: { use: openai, base_url: ${fast}/v1, api_key: bench, models: [bench-model] }
  ant: { use: anthropic, base_url: ${fast}, api_key: bench, models: [bench-model] }
  oaipaced: { use: openai, base_url: ${paced}/v1, api_key: bench, models: [bench-model] }
  antpaced: { use: anthropic, base_url: ${paced}, api_key: bench, models: [bench-model] }
pipeline:
  - use: router
    with: { default: oai/bench-model }
`;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function pct(ratio: number): string {
  return `${Math.round(ratio * 1000) / 10}%`;
}

export type { BenchCase };

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await runBench(process.argv.slice(2));
}
