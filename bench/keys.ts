/**
 * `npm run bench:keys`: throughput and client-visible 429s under per-key rate limits.
 *
 * An OpenAI-compatible upstream on 127.0.0.1 allows each key 60 requests per minute (with real
 * x-ratelimit-* headers and retry-after), on a clock compressed 20× so a run takes seconds: a
 * "minute" lasts 3 s. 300 requests are offered by 30 clients at once, each sending its next
 * request when the previous one is answered, through the router configured four ways:
 *
 *   one key, no scheduler       provider 429s reach the clients
 *   one key, scheduler          requests wait for the key instead
 *   three keys, scheduler       the pool spreads the load
 *   three keys, sequential      the pool, one request at a time
 *
 * Reports completed requests per (simulated) minute and the 429s clients saw. Expected: about 3×
 * the throughput with three keys, and no 429s once requests may wait.
 *
 *   npm run bench:keys
 *   npm run bench:keys -- --quick      # 90 requests (harness check)
 *   npm run bench:keys -- --write-docs # also replace the results in docs/performance.md
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { Pool } from 'undici';
import { startRouter } from '../core/router.ts';
import { updateDocs } from './report.ts';

const compression = 20;
const minuteMs = 60_000 / compression;
const perKeyPerMinute = 60;

export interface KeysScenario {
  name: string;
  completed: number;
  clientRateLimited: number;
  otherErrors: number;
  elapsedMs: number;
  /** Completed requests per simulated minute (a run shorter than a minute counts as one). */
  perMinute: number;
  upstream429s: number;
}

interface Upstream {
  url: string;
  rejected: () => number;
  close(): Promise<void>;
}

async function limitedUpstream(): Promise<Upstream> {
  const windows = new Map<string, number[]>();
  let rejected = 0;
  const answer = JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion', created: 0, model: 'bench', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 10, completion_tokens: 1, total_tokens: 11 } });
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const key = String(req.headers.authorization ?? '').slice(7);
      const now = Date.now();
      const list = (windows.get(key) ?? []).filter((t) => t > now - minuteMs);
      windows.set(key, list);
      const resetMs = list.length ? list[0] + minuteMs - now : minuteMs;
      const limits = { 'x-ratelimit-limit-requests': String(perKeyPerMinute), 'x-ratelimit-reset-requests': `${Math.max(1, Math.round(resetMs))}ms` };
      if (list.length >= perKeyPerMinute) {
        rejected++;
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(Math.ceil(resetMs / 1000)), ...limits, 'x-ratelimit-remaining-requests': '0' });
        res.end(JSON.stringify({ error: { message: 'Rate limit reached for requests', type: 'requests', code: 'rate_limit_exceeded' } }));
        return;
      }
      list.push(now);
      // A little latency, as a real model has.
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json', ...limits, 'x-ratelimit-remaining-requests': String(perKeyPerMinute - list.length) });
        res.end(answer);
      }, 15);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    rejected: () => rejected,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function scenario(name: string, yaml: string, offered: number, clients: number, upstream: Upstream): Promise<KeysScenario> {
  const dir = mkdtempSync(join(tmpdir(), 'rk-keys-'));
  const file = join(dir, 'router.yaml');
  writeFileSync(file, yaml);
  const router = await startRouter({ configFile: file, port: 0, watch: false, logger: pino({ level: 'silent' }) });
  const pool = new Pool(router.url, { connections: clients });
  const before = upstream.rejected();
  let next = 0;
  const result = { completed: 0, clientRateLimited: 0, otherErrors: 0 };
  const started = Date.now();
  const body = JSON.stringify({ model: 'm', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < offered) {
        next++;
        const res = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body });
        await res.body.dump();
        if (res.statusCode === 200) result.completed++;
        else if (res.statusCode === 429) result.clientRateLimited++;
        else result.otherErrors++;
      }
    }),
  );
  const elapsedMs = Date.now() - started;
  await pool.close();
  await router.close(1000);
  rmSync(dir, { recursive: true, force: true });
  const report = { name, ...result, elapsedMs, perMinute: Math.round((result.completed / Math.max(elapsedMs, minuteMs)) * minuteMs), upstream429s: upstream.rejected() - before };
  process.stderr.write(`${name}: ${JSON.stringify(report)}\n`);
  // Let every key's window empty before the next scenario.
  await new Promise((resolve) => setTimeout(resolve, minuteMs));
  return report;
}

export async function runKeysBench(argv: string[]): Promise<KeysScenario[]> {
  const { values } = parseArgs({ args: argv, options: { quick: { type: 'boolean', default: false } } });
  const offered = values.quick ? 90 : 300;
  const clients = values.quick ? 10 : 30;
  const upstream = await limitedUpstream();
  const config = (keys: string, scheduler: string) => `
providers:
  up: { use: openai, base_url: ${upstream.url}/v1, keys: ${keys}, models: [m] }
pipeline:
  - use: router
    with: { default: up/m }
${scheduler}`;
  const scheduler = (extra = '') => `  - use: scheduler\n    with: { max_wait: { normal: 5m }${extra} }`;
  try {
    return [
      await scenario('one key, no scheduler', config('[key-a]', ''), offered, clients, upstream),
      await scenario('one key, scheduler', config('[key-a]', scheduler()), offered, clients, upstream),
      await scenario('three keys, scheduler', config('[key-a, key-b, key-c]', scheduler()), offered, clients, upstream),
      await scenario('three keys, sequential', config('[key-a, key-b, key-c]', scheduler(', concurrency: 1')), offered, clients, upstream),
    ];
  } finally {
    await upstream.close();
  }
}

export function renderKeys(results: KeysScenario[]): string {
  const base = results.find((r) => r.name === 'one key, scheduler')?.perMinute ?? 0;
  const lines = [
    `${results[0] ? results[0].completed + results[0].clientRateLimited + results[0].otherErrors : 0} requests offered by concurrent clients; each key allows ${perKeyPerMinute} requests per minute (clock compressed ${compression}×).`,
    '',
    '| setup | completed | per minute | vs one key | 429s seen by clients | 429s from the provider | other errors | elapsed |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of results) lines.push(`| ${r.name} | ${r.completed} | ${r.perMinute} | ${base ? (r.perMinute / base).toFixed(1) + '×' : '–'} | ${r.clientRateLimited} | ${r.upstream429s} | ${r.otherErrors} | ${(r.elapsedMs / 1000).toFixed(1)} s |`);
  return lines.join('\n') + '\n';
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const results = await runKeysBench(process.argv.slice(2).filter((arg) => arg !== '--write-docs'));
  const markdown = renderKeys(results);
  if (process.argv.includes('--write-docs')) {
    updateDocs(fileURLToPath(new URL('../docs/performance.md', import.meta.url)), `Run ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC.\n\n${markdown}`, { start: '<!-- keys results: generated by npm run bench:keys -- --write-docs -->', end: '<!-- end of keys results -->' });
  }
  process.stdout.write(markdown);
  process.stdout.write(`\n${JSON.stringify(results)}\n`);
}
