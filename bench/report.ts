/**
 * Benchmark results as a markdown table, the targets checked against them, and docs/performance.md
 * kept current (between its markers).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { pino } from 'pino';
import type { LoadResult } from './load.ts';

export interface Measurement {
  case: string;
  title: string;
  mode: 'passthrough' | 'translation';
  stream: boolean;
  connections: number;
  bodyBytes: number;
  /** Direct, bare proxy and router were measured in turn this many times; each is the median round. */
  rounds?: number;
  direct: LoadResult;
  /** A bare Node proxy in front of the same mock (bare-proxy.ts): the floor for any Node gateway. */
  floor?: LoadResult & { cpuMsPerRequest: number };
  router: LoadResult & { cpuMsPerRequest: number };
}

export interface BenchReport {
  date: string;
  quick: boolean;
  durationMs: number;
  /** The router's `log.level`: at `info` (router.yaml's default) each request also writes a line. */
  logLevel: string;
  machine: { cpus: number; model: string; memoryGb: number; node: string };
  /**
   * RSS before any traffic, a second after the warm-up traffic, idle after every case (read
   * `idleAfterS` seconds after the last request; 0 in quick mode, which does not wait), and the
   * high-water mark.
   */
  memory: { startRssMb: number; afterWarmUpRssMb: number; idleRssMb: number; idleAfterS: number; peakRssMb: number };
  measurements: Measurement[];
}

export interface TargetCheck {
  target: string;
  measured: string;
  /** The same measure for the bare proxy, where it applies. */
  floor?: string;
  met: boolean;
}

const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b);
const percent = (r: number) => `${Math.round(r * 1000) / 10}%`;
const ms = (n: number) => (n >= 10 ? n.toFixed(1) : n.toFixed(2));

export function checkTargets(report: BenchReport): TargetCheck[] {
  const find = (id: string, connections: number) => report.measurements.find((m) => m.case === id && m.connections === connections);
  const throughput = (m: Measurement) => ratio(m.router.rps, m.direct.rps);
  const floorThroughput = (m: Measurement) => (m.floor ? percent(ratio(m.floor.rps, m.direct.rps)) : undefined);
  const checks: TargetCheck[] = [];
  const small = report.measurements.filter((m) => m.case.startsWith('small-'));
  for (const connections of [1, 50]) {
    const at = small.filter((m) => m.connections === connections);
    if (at.length === 0) continue;
    const worst = at.reduce((a, b) => (b.router.cpuMsPerRequest > a.router.cpuMsPerRequest ? b : a));
    checks.push({ target: `small requests: router CPU ≤ 0.25 ms per request (${connections} connection${connections > 1 ? 's' : ''})`, measured: `${worst.router.cpuMsPerRequest.toFixed(3)} ms (worst case)`, floor: worst.floor ? `${worst.floor.cpuMsPerRequest.toFixed(3)} ms` : undefined, met: worst.router.cpuMsPerRequest <= 0.25 });
  }
  const at50 = small.filter((m) => m.connections === 50);
  if (at50.length) {
    const worst = at50.reduce((a, b) => (throughput(b) < throughput(a) ? b : a));
    checks.push({ target: 'small requests: throughput at 50 connections ≥ 25% of direct', measured: `${percent(throughput(worst))} (worst case)`, floor: floorThroughput(worst), met: throughput(worst) >= 0.25 });
  }
  for (const id of ['claude-code-470kb', 'claude-code-470kb-passthrough']) {
    const big = find(id, 4);
    if (big) checks.push({ target: `470 KB requests: throughput ≥ 50% of direct (${big.mode})`, measured: percent(throughput(big)), floor: floorThroughput(big), met: throughput(big) >= 0.5 });
  }
  const st = find('stream-translation', 50);
  if (st) checks.push({ target: 'streaming at 50 connections, translating: ≥ 35% of direct', measured: percent(throughput(st)), floor: floorThroughput(st), met: throughput(st) >= 0.35 });
  const sp = find('stream-passthrough', 50);
  if (sp) checks.push({ target: 'streaming at 50 connections, passthrough: ≥ 50% of direct', measured: percent(throughput(sp)), floor: floorThroughput(sp), met: throughput(sp) >= 0.5 });
  for (const id of ['ttfb-translation', 'ttfb-passthrough']) {
    const m = find(id, 1);
    if (m) {
      const overhead = m.router.ttfb.p50 - m.direct.ttfb.p50;
      checks.push({ target: `time-to-first-byte overhead p50 ≤ 0.5 ms at 1 connection (${m.mode})`, measured: `${overhead.toFixed(2)} ms`, floor: m.floor ? `${(m.floor.ttfb.p50 - m.direct.ttfb.p50).toFixed(2)} ms` : undefined, met: overhead <= 0.5 });
    }
  }
  checks.push({ target: 'peak RSS under all cases ≤ 200 MB (workers included)', measured: `${report.memory.peakRssMb} MB`, met: report.memory.peakRssMb <= 200 });
  checks.push({ target: 'idle RSS ≤ 120 MB, at start', measured: `${report.memory.startRssMb} MB`, met: report.memory.startRssMb <= 120 });
  // Idle after traffic is the number an operator sees on a router that has been busy.
  if (!report.quick) checks.push({ target: 'idle RSS ≤ 120 MB, after every case', measured: `${report.memory.idleRssMb} MB (${report.memory.idleAfterS} s after the last request)`, met: report.memory.idleRssMb <= 120 });
  return checks;
}

/** Whether the router writes its per-request line (at `info`) at this level; `silent` has no number. */
function logsRequests(level: string): boolean {
  return (pino.levels.values[level] ?? Infinity) <= pino.levels.values.info;
}

export function renderMarkdown(report: BenchReport): string {
  const lines = [
    `Run ${report.date.slice(0, 16).replace('T', ' ')} UTC${report.quick ? ' (quick mode: too short to quote)' : ''}, ${report.durationMs / 1000} s per measurement after warm-up${(report.measurements[0]?.rounds ?? 1) > 1 ? `, each the median of ${report.measurements[0].rounds} rounds (direct, bare proxy and router in turn)` : ''}, on ${report.machine.cpus} × ${report.machine.model}, ${report.machine.memoryGb} GB, Node ${report.machine.node}. Mock upstream, bare proxy, router and load generator are separate processes on one machine. The router logs at level ${report.logLevel}${logsRequests(report.logLevel) ? ' (a line per request)' : ' (no line per request)'}.`,
    '',
    '| case | conn | direct req/s | router req/s | router/direct | bare proxy/direct | latency p50 direct → router (ms) | latency p99 (ms) | TTFB p50 (ms) | TTFB p99 (ms) | errors | CPU ms/req router (bare proxy) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const m of report.measurements) {
    const arrow = (d: number, r: number) => `${ms(d)} → ${ms(r)}`;
    const floor = m.floor ? percent(ratio(m.floor.rps, m.direct.rps)) : '–';
    const cpu = `${m.router.cpuMsPerRequest.toFixed(3)}${m.floor ? ` (${m.floor.cpuMsPerRequest.toFixed(3)})` : ''}`;
    const errors = `${m.direct.errors} / ${m.router.errors}`;
    lines.push(
      `| ${m.title} | ${m.connections} | ${m.direct.rps} | ${m.router.rps} | ${percent(ratio(m.router.rps, m.direct.rps))} | ${floor} | ${arrow(m.direct.latency.p50, m.router.latency.p50)} | ${arrow(m.direct.latency.p99, m.router.latency.p99)} | ${m.stream ? arrow(m.direct.ttfb.p50, m.router.ttfb.p50) : '–'} | ${m.stream ? arrow(m.direct.ttfb.p99, m.router.ttfb.p99) : '–'} | ${errors} | ${cpu} |`,
    );
  }
  const idle = report.quick ? '' : `, ${report.memory.idleRssMb} MB idle after every case (${report.memory.idleAfterS} s after the last request)`;
  lines.push('', `Router memory (RSS, all threads): ${report.memory.startRssMb} MB at start, ${report.memory.afterWarmUpRssMb} MB a second after the warm-up traffic${idle}, ${report.memory.peakRssMb} MB peak.`, '', '| target | measured | bare proxy, same run | met |', '| --- | --- | --- | --- |');
  for (const check of checkTargets(report)) lines.push(`| ${check.target} | ${check.measured} | ${check.floor ?? '–'} | ${check.met ? 'yes' : '**no**'} |`);
  return lines.join('\n') + '\n';
}

const start = '<!-- bench results: generated by npm run bench -- --write-docs -->';
const end = '<!-- end of bench results -->';

export function updateDocs(file: string, markdown: string, markers: { start: string; end: string } = { start, end }): void {
  const doc = readFileSync(file, 'utf8');
  const from = doc.indexOf(markers.start);
  const to = doc.indexOf(markers.end);
  if (from === -1 || to === -1) throw new Error(`${file} has no "${markers.start}" … "${markers.end}" markers`);
  writeFileSync(file, doc.slice(0, from) + `${markers.start}\n${markdown}${markers.end}` + doc.slice(to + markers.end.length));
}
