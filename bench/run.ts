/**
 * `npm run bench` / `router-kernel bench`: measures router-kernel against the direct upstream, in
 * one run, on 127.0.0.1. Starts the mock upstreams (fast and paced) and the router as separate
 * processes, drives each case with the load generator (another process) directly and through the
 * router, and writes bench/results/latest.json and latest.md (quick.* for --quick; and docs/performance.md with
 * --write-docs). Every run is bounded in time and stops what it started.
 *
 *   npm run bench                 # full run: 3 rounds of every measurement (~10 minutes)
 *   npm run bench -- --rounds 5   # more rounds, steadier medians
 *   npm run bench -- --quick      # every case briefly (checks the harness, not the speed)
 *   npm run bench -- --cases small-anthropic-translation,stream-translation --duration 10
 *   npm run bench -- --no-floor   # skip the bare-proxy measurements (a third faster)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { logLevels } from '../core/config/schema.ts';
import { benchCases, directBody, pathOf, providerDialect, routed, type BenchCase } from './cases.ts';
import type { LoadResult } from './load.ts';
import { cpuMs, memoryMb } from './proc-stats.ts';
import { renderMarkdown, updateDocs, type BenchReport, type Measurement } from './report.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const here = fileURLToPath(new URL('./', import.meta.url));

const benchOptions = {
  quick: { type: 'boolean', default: false },
  duration: { type: 'string' },
  cases: { type: 'string' },
  out: { type: 'string', default: defaultOut() },
  'write-docs': { type: 'boolean', default: false },
  'no-floor': { type: 'boolean', default: false },
  rounds: { type: 'string' },
  'log-level': { type: 'string', default: 'warn' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

const usage = `usage: router-kernel bench [--quick] [--cases ID,ID] [--duration SECONDS] [--rounds N] [--log-level LEVEL] [--out DIR] [--no-floor] [--write-docs]
  (npm run bench -- the same options). Case ids: ${benchCases.map((c) => c.id).join(', ')}.
  docs/performance.md explains every option and number.`;

export async function runBench(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: benchOptions });
  } catch (err) {
    process.stderr.write(`router-kernel bench: ${(err as Error).message}\n${usage}\n`);
    return 2;
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(usage + '\n');
    return 0;
  }
  const withFloor = values['no-floor'] !== true;
  // Direct, bare proxy and router are measured in turn, `rounds` times, and each reported figure
  // is the median round: a shared machine drifts by 20% and more between minutes, and one slow
  // stretch would otherwise decide a ratio.
  const rounds = Math.max(1, Number(values.rounds ?? (values.quick ? 1 : 3)));
  const durationMs = values.duration ? Number(values.duration) * 1000 : values.quick ? 250 : 2000;
  const warmupMs = values.quick ? 100 : 500;
  const asked = values.cases?.split(',').map((id) => id.trim()).filter(Boolean);
  const unknown = asked?.filter((id) => !benchCases.some((c) => c.id === id)) ?? [];
  if (unknown.length > 0 || asked?.length === 0) {
    process.stderr.write(`router-kernel bench: ${unknown.length > 0 ? `no case named ${unknown.join(', ')}` : '--cases names no case'}\n${usage}\n`);
    return 2;
  }
  const logLevel = values['log-level'];
  if (!(logLevels as readonly string[]).includes(logLevel)) {
    process.stderr.write(`router-kernel bench: --log-level must be one of ${logLevels.join(', ')}\n${usage}\n`);
    return 2;
  }
  const selected = asked ? benchCases.filter((c) => asked.includes(c.id)) : benchCases;
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
    // The floor: a bare Node proxy in front of each mock (see bare-proxy.ts).
    const floors = withFloor ? { fast: await startBareProxy(children, mocks.fast), paced: await startBareProxy(children, mocks.paced) } : undefined;
    const configFile = join(work, 'router.yaml');
    writeFileSync(configFile, benchConfig(mocks.fast, mocks.paced, logLevel));
    const router = await startProcess(children, [join(root, 'bin/router-kernel.js'), '--config', configFile, '--port', '0', '--no-watch'], /ready on (http:\/\/\S+)/);
    const generator = new LoadGenerator(children, work);
    const routerUrl = router.match[1];
    const pid = router.child.pid!;
    await new Promise((resolve) => setTimeout(resolve, 500));
    const atStart = memoryMb(pid);

    // Warm the code paths (router and bare proxies alike), then let the router settle before
    // reading its idle memory.
    const warm = values.quick ? 100 : 500;
    for (const c of selected) {
      await generator.run({ url: routerUrl, path: pathOf(c.client), bodies: [routed(c, c.bodies()[0])], connections: 2, durationMs: warm, warmupMs: 0 });
      const proxy = floors && (c.provider.endsWith('paced') ? floors.paced : floors.fast);
      if (proxy) await generator.run({ url: proxy.url, path: pathOf(providerDialect(c)), bodies: [directBody(c, c.bodies()[0])], connections: 2, durationMs: warm, warmupMs: 0 });
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const afterWarmUp = memoryMb(pid);

    const measurements: Measurement[] = [];
    for (const c of selected) {
      const bodies = c.bodies();
      for (const connections of c.connections) {
        const paced = c.provider.endsWith('paced');
        const providerBodies = bodies.map((b) => directBody(c, b));
        const directRuns: LoadResult[] = [];
        const floorRuns: Array<LoadResult & { cpuMsPerRequest: number }> = [];
        const routerRuns: Array<LoadResult & { cpuMsPerRequest: number }> = [];
        for (let round = 0; round < rounds; round++) {
          directRuns.push(await generator.run({ url: paced ? mocks.paced : mocks.fast, path: pathOf(providerDialect(c)), bodies: providerBodies, connections, durationMs, warmupMs }));
          if (floors) {
            const proxy = paced ? floors.paced : floors.fast;
            const before = cpuMs(proxy.pid);
            const result = await generator.run({ url: proxy.url, path: pathOf(providerDialect(c)), bodies: providerBodies, connections, durationMs, warmupMs });
            floorRuns.push({ ...result, cpuMsPerRequest: round3((cpuMs(proxy.pid) - before) / Math.max(1, result.total)) });
          }
          const cpuBefore = cpuMs(pid);
          const result = await generator.run({ url: routerUrl, path: pathOf(c.client), bodies: bodies.map((b) => routed(c, b)), connections, durationMs, warmupMs });
          routerRuns.push({ ...result, cpuMsPerRequest: round3((cpuMs(pid) - cpuBefore) / Math.max(1, result.total)) });
        }
        const direct = medianRun(directRuns);
        const floor = floorRuns.length > 0 ? medianRun(floorRuns) : undefined;
        const viaRouter = medianRun(routerRuns);
        measurements.push({ case: c.id, title: c.title, mode: c.mode, stream: c.stream, connections, bodyBytes: Math.round(bodies.reduce((n, b) => n + Buffer.byteLength(JSON.stringify(b)), 0) / bodies.length), rounds, direct, ...(floor ? { floor } : {}), router: viaRouter });
        const floorNote = floor ? `, bare proxy ${floor.rps} req/s (${pct(floor.rps / direct.rps)})` : '';
        process.stderr.write(`${c.id} ×${connections}: direct ${direct.rps} req/s${floorNote}, router ${viaRouter.rps} req/s (${pct(viaRouter.rps / direct.rps)})\n`);
      }
    }
    const peak = memoryMb(pid);
    // Idle memory is read once the router has had time to give back what the traffic grew.
    const idle = values.quick ? { rss: memoryMb(pid).rss, after: 0 } : await restingMemory(pid);
    const report: BenchReport = {
      date: new Date().toISOString(),
      quick: values.quick === true,
      durationMs,
      logLevel,
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version },
      memory: { startRssMb: atStart.rss, afterWarmUpRssMb: afterWarmUp.rss, idleRssMb: idle.rss, idleAfterS: idle.after, peakRssMb: peak.peak },
      measurements,
    };
    mkdirSync(values.out!, { recursive: true });
    // A quick run's numbers are not quotable: they never replace the last full run's files.
    const name = values.quick ? 'quick' : 'latest';
    writeFileSync(join(values.out!, `${name}.json`), JSON.stringify(report, null, 2) + '\n');
    const markdown = renderMarkdown(report);
    writeFileSync(join(values.out!, `${name}.md`), markdown);
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

/**
 * The load generator: one process for the whole run (spawning one per measurement would cost more
 * than a quick run's measurements), fed one spec per line, answering one result per line.
 */
class LoadGenerator {
  readonly #child: ChildProcess;
  readonly #waiting: Array<{ resolve: (r: LoadResult) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }> = [];
  #out = '';
  #count = 0;

  constructor(children: ChildProcess[], private readonly work: string) {
    this.#child = spawn(process.execPath, ['--import', 'tsx', join(here, 'load.ts'), '--serve'], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, NODE_OPTIONS: '' } });
    children.push(this.#child);
    this.#child.stdout!.on('data', (d: Buffer) => {
      this.#out += d.toString();
      for (let nl = this.#out.indexOf('\n'); nl !== -1; nl = this.#out.indexOf('\n')) {
        const line = this.#out.slice(0, nl);
        this.#out = this.#out.slice(nl + 1);
        const next = this.#waiting.shift();
        if (next) {
          clearTimeout(next.timer);
          next.resolve(JSON.parse(line) as LoadResult);
        }
      }
    });
    this.#child.on('exit', (code) => {
      for (const w of this.#waiting.splice(0)) {
        clearTimeout(w.timer);
        w.reject(new Error(`load generator exited with ${code}`));
      }
    });
  }

  run(spec: LoadSpec): Promise<LoadResult> {
    const bodiesFile = join(this.work, `bodies-${this.#count++}.json`);
    writeFileSync(bodiesFile, JSON.stringify(spec.bodies.map((b) => JSON.stringify(b))));
    const headers = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', authorization: 'Bearer bench' };
    const line = JSON.stringify({ url: spec.url, path: spec.path, headers, bodiesFile, connections: spec.connections, durationMs: spec.durationMs, warmupMs: spec.warmupMs });
    return new Promise((resolve, reject) => {
      // Bounded: the generator stops itself; this only guards against a hang.
      const timer = setTimeout(() => {
        this.#child.kill('SIGKILL');
        reject(new Error('the load generator hung'));
      }, spec.durationMs + spec.warmupMs + 60_000);
      this.#waiting.push({ resolve, reject, timer });
      this.#child.stdin!.write(line + '\n');
    });
  }
}

async function startBareProxy(children: ChildProcess[], upstream: string): Promise<{ url: string; pid: number }> {
  const proxy = await startProcess(children, ['--import', 'tsx', join(here, 'bare-proxy.ts'), '--upstream', upstream, '--port', '0'], /listening (\d+)/);
  return { url: `http://127.0.0.1:${proxy.match[1]}`, pid: proxy.child.pid! };
}

async function startProcess(children: ChildProcess[], args: string[], ready: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
  children.push(child);
  let out = '';
  let err = '';
  // Only the end is kept, for an error message: at log level info the router writes a line per request.
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-16_384)));
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

/**
 * RSS once the router sits idle after every case's traffic. V8 keeps the heap it grew for large
 * bodies until its memory reducer notices the process is idle (10–30 s here, sometimes in more
 * than one step), then returns it: RSS read a second after the traffic is the busy heap, not the
 * idle one. Polls every second for a minute; the lowest reading, and when it was first seen.
 */
async function restingMemory(pid: number): Promise<{ rss: number; after: number }> {
  let lowest = memoryMb(pid).rss;
  let after = 0;
  for (let second = 1; second <= 60; second++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const rss = memoryMb(pid).rss;
    if (rss < lowest) {
      lowest = rss;
      after = second;
    }
  }
  return { rss: lowest, after };
}

function benchConfig(fast: string, paced: string, logLevel: string): string {
  return `# generated by bench/run.ts
server:
  port: 0
  body_limit: 64mb
log:
  level: ${logLevel}
watch: false
providers:
  oai: { use: openai, base_url: ${fast}/v1, api_key: bench, models: [bench-model] }
  ant: { use: anthropic, base_url: ${fast}, api_key: bench, models: [bench-model] }
  oaipaced: { use: openai, base_url: ${paced}/v1, api_key: bench, models: [bench-model] }
  antpaced: { use: anthropic, base_url: ${paced}, api_key: bench, models: [bench-model] }
pipeline:
  # Long-context routing on, as Claude Code users run it: requests the body's size cannot settle
  # are counted (in the worker pool, each message block once); the long route is the same model,
  # so every Claude Code case is answered alike whichever way it is routed.
  - use: router
    with: { default: oai/bench-model, long_context: { target: oai/bench-model, threshold: 60000 } }
  # Shares only deterministic requests (temperature 0): the coalesced-streams case.
  - use: coalesce
`;
}

/** bench/results in a checkout of router-kernel, ./bench-results anywhere else (say, under npx). */
function defaultOut(): string {
  return resolve(process.cwd()) === resolve(root) ? join(here, 'results') : join(process.cwd(), 'bench-results');
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** The round with the median throughput, its CPU per request replaced by the median one. */
function medianRun<T extends LoadResult & { cpuMsPerRequest?: number }>(runs: T[]): T {
  const middle = (values: number[]) => [...values].sort((a, b) => a - b)[(values.length - 1) >> 1];
  const rps = middle(runs.map((r) => r.rps));
  const chosen = runs.find((r) => r.rps === rps)!;
  if (chosen.cpuMsPerRequest === undefined) return chosen;
  return { ...chosen, cpuMsPerRequest: middle(runs.map((r) => r.cpuMsPerRequest!)) };
}

function pct(ratio: number): string {
  return `${Math.round(ratio * 1000) / 10}%`;
}

export type { BenchCase };

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await runBench(process.argv.slice(2));
}
