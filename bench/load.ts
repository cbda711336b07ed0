/**
 * The load generator: a separate process driving closed-loop HTTP load with undici (each of N
 * connections sends its next request as soon as the previous answer has been read whole).
 * Measures request latency, time to first body byte, throughput and errors after a warm-up.
 *
 *   node --import tsx bench/load.ts spec.json   → prints one JSON result line
 *   node --import tsx bench/load.ts --serve     → reads one spec per stdin line, answers each with
 *                                                 a result line (one process for a whole run)
 *
 * spec.json: { url, path, headers, bodiesFile, connections, durationMs, warmupMs }
 * bodiesFile: a JSON array of request bodies (strings); connection i starts at body i and walks the
 * list, so a growing conversation is replayed turn by turn.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { Pool } from 'undici';

export interface Spec {
  url: string;
  path: string;
  headers: Record<string, string>;
  bodiesFile: string;
  connections: number;
  durationMs: number;
  warmupMs: number;
}

export interface LoadResult {
  /** Requests answered in the measured window. */
  requests: number;
  /** Requests sent in all, warm-up included (for per-request CPU cost). */
  total: number;
  errors: number;
  durationMs: number;
  rps: number;
  latency: { p50: number; p99: number; mean: number };
  ttfb: { p50: number; p99: number };
  statuses: Record<string, number>;
  firstError?: string;
}

export async function runLoad(spec: Spec): Promise<LoadResult> {
  const bodies = (JSON.parse(readFileSync(spec.bodiesFile, 'utf8')) as string[]).map((b) => Buffer.from(b));
  const pool = new Pool(spec.url, { connections: spec.connections, pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: 60_000, bodyTimeout: 60_000 });
  const latencies: number[] = [];
  const ttfbs: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let total = 0;
  let firstError: string | undefined;

  const start = performance.now();
  const measureFrom = start + spec.warmupMs;
  const stopAt = measureFrom + spec.durationMs;

  async function worker(offset: number): Promise<void> {
    for (let i = offset; performance.now() < stopAt; i++) {
      const body = bodies[i % bodies.length];
      const t0 = performance.now();
      let first = 0;
      try {
        const res = await pool.request({ path: spec.path, method: 'POST', headers: spec.headers, body });
        for await (const chunk of res.body) if (first === 0 && (chunk as Buffer).length > 0) first = performance.now();
        const t1 = performance.now();
        total++;
        if (t0 < measureFrom) continue;
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        if (res.statusCode !== 200) {
          errors++;
          continue;
        }
        latencies.push(t1 - t0);
        ttfbs.push((first || t1) - t0);
      } catch (err) {
        if (t0 >= measureFrom) {
          errors++;
          firstError ??= (err as Error).message;
        }
      }
    }
  }

  await Promise.all(Array.from({ length: spec.connections }, (_, i) => worker(i)));
  await pool.close();
  const measured = Math.min(performance.now(), stopAt + 60_000) - measureFrom;
  latencies.sort((a, b) => a - b);
  ttfbs.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    total,
    errors,
    durationMs: Math.round(measured),
    rps: Math.round((latencies.length / measured) * 1000 * 10) / 10,
    latency: { p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)), mean: round(latencies.reduce((a, b) => a + b, 0) / (latencies.length || 1)) },
    ttfb: { p50: round(percentile(ttfbs, 50)), p99: round(percentile(ttfbs, 99)) },
    statuses,
    ...(firstError ? { firstError } : {}),
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv[2] === '--serve') {
    // Specs run one after another; the process ends when its stdin does.
    for await (const line of createInterface({ input: process.stdin })) {
      if (line.trim()) process.stdout.write(JSON.stringify(await runLoad(JSON.parse(line) as Spec)) + '\n');
    }
  } else {
    process.stdout.write(JSON.stringify(await runLoad(JSON.parse(readFileSync(process.argv[2], 'utf8')) as Spec)) + '\n');
  }
}
