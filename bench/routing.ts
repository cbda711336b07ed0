/**
 * `npm run bench:routing`: what a routing decision costs on a Claude-Code-shaped conversation of
 * about 100k tokens (the recorded system prompt and tools, then tool_use/tool_result turns) that
 * grows by 20 turns, the way an agent session does.
 *
 * Measured with the real router plugin, the kernel's request context and the real token counter
 * (piscina workers, block cache):
 * - decision time per turn after the first, end to end: from the received body's bytes to the
 *   chosen route (the top-level field scan, parsing, the walk, hashing every block, counting the
 *   new ones in a worker, the rules);
 * - event-loop delay (monitorEventLoopDelay, 1 ms resolution) while 4 such sessions send their
 *   turns concurrently;
 * and the same for what routers commonly do today: parse the body and count the whole request
 * (every text, the tool definitions, the framing) with the tokenizer on the main thread on every
 * turn. Prints both and their ratio.
 *
 *   npm run bench:routing              # 5 sessions × 21 turns
 *   npm run bench:routing -- --quick   # 2 sessions × 4 turns, a smaller conversation (harness check)
 *   npm run bench:routing -- --write-docs   # also replace the results in docs/performance.md
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { anthropicCodec } from '../core/dialects/anthropic/index.ts';
import { RawJsonObject } from '../core/dialects/raw-json.ts';
import { createCatalog } from '../core/generation/catalog.ts';
import type { ProviderCatalog, RawRequest, RequestContext } from '../core/contract.ts';
import { KernelContext } from '../core/http/context.ts';
import { requestBlocks } from '../core/tokens/blocks.ts';
import { tokenFamilies } from '../core/tokens/families.ts';
import { familyTexts, framingOf } from '../core/tokens/framing.ts';
import { TokenCounter } from '../core/tokens/token-counter.ts';
import routerPlugin from '../plugins/middleware/router/index.ts';
import { claudeCodeBody } from './cases.ts';
import { updateDocs } from './report.ts';

export interface RoutingReport {
  sessions: number;
  turns: number;
  firstTurnTokens: number;
  lastTurnTokens: number;
  router: ApproachResult;
  mainThread: ApproachResult;
}

interface ApproachResult {
  /** Median decision time over turns 2…n, in ms, from the body's bytes (parsing included). */
  decisionMedianMs: number;
  decisionP99Ms: number;
  firstTurnMs: number;
  /** Median time to parse a turn's body into the canonical request (a part of the decision). */
  parseMedianMs: number;
  eventLoopDelayP99Ms: number;
  eventLoopDelayMaxMs: number;
}

const log = pino({ level: 'silent' });

/** Code-like text that tokenizes like real files (varied identifiers, not one line repeated). */
function codeText(seed: number, chars: number): string {
  const lines: string[] = [];
  let length = 0;
  for (let i = 0; length < chars; i++) {
    const n = (seed * 7919 + i * 104729) % 100_000;
    const line = `  const ${['value', 'result', 'item', 'entry', 'node'][n % 5]}${n % 977} = await ${['fetch', 'parse', 'render', 'load', 'store'][i % 5]}${['User', 'Order', 'Route', 'Token', 'Cache'][n % 5]}(input${i % 13}, { limit: ${n % 500}, mode: "${['fast', 'safe', 'full'][i % 3]}" });`;
    lines.push(line);
    length += line.length + 1;
  }
  return lines.join('\n').slice(0, chars);
}

/** The session's bodies, turn by turn: a ~100k-token conversation, then one tool turn more each time. */
function sessionBodies(session: number, turns: number, baseTurns: number, baseChars: number, turnChars: number): Buffer[] {
  const base = claudeCodeBody(0, 1) as { messages: Array<Record<string, unknown>>; model: string };
  base.messages = base.messages.slice(0, 1);
  const turn = (i: number, chars: number) => {
    const id = `toolu_${session}_${String(i).padStart(4, '0')}`;
    return [
      { role: 'assistant', content: [{ type: 'text', text: `Reading part ${i} of session ${session}.` }, { type: 'tool_use', id, name: 'Read', input: { file_path: `/repo/s${session}/part-${i}.ts` } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: codeText(session * 1000 + i, chars) }] },
    ];
  };
  const bodies: Buffer[] = [];
  const messages = [...base.messages];
  for (let i = 0; i < baseTurns; i++) messages.push(...turn(i, baseChars));
  for (let t = 0; t < turns; t++) {
    if (t > 0) messages.push(...turn(baseTurns + t, turnChars));
    bodies.push(Buffer.from(JSON.stringify({ ...base, messages, metadata: { user_id: JSON.stringify({ session_id: `bench-${session}` }) } })));
  }
  return bodies;
}

function rawRequest(body: Buffer, object: RawJsonObject): RawRequest {
  let json: Record<string, unknown> | undefined;
  return {
    method: 'POST',
    path: '/v1/messages',
    query: new URLSearchParams('beta=true'),
    headers: { 'content-type': 'application/json' },
    body,
    size: body.length,
    bytes: body,
    get json() {
      return (json ??= object.parse());
    },
    field: (name) => object.field(name),
    withString: (name, value) => object.withString(name, value),
    layout: (name) => object.layout(name),
  };
}

/** A request context as the kernel builds one (its own class), from the body's bytes. */
function contextFor(body: Buffer, catalog: ProviderCatalog, counter: TokenCounter, parsed: (ms: number) => void = () => {}): RequestContext {
  const object = new RawJsonObject(body);
  const raw = rawRequest(body, object);
  const parse = () => {
    const t0 = performance.now();
    const request = anthropicCodec.parseRequest(raw.json);
    parsed(performance.now() - t0);
    return request;
  };
  return new KernelContext('bench', 'anthropic', 'messages', object.field('model') as string, object.field('stream') === true, parse, raw, catalog, new AbortController().signal, log, performance.now(), counter);
}

/**
 * Decision latency on one session's turns in sequence, each from its body's bytes (parsing is part
 * of it: a router that needs the request pays for it), then event-loop delay while every other
 * session sends its turns at once. `decide` reports how long its parse took, shown apart too.
 */
async function measure(name: string, sessions: Buffer[][], decide: (body: Buffer) => Promise<number>): Promise<ApproachResult> {
  const later: number[] = [];
  const parses: number[] = [];
  let first = 0;
  const one = sessions[0];
  for (let turn = 0; turn < one.length; turn++) {
    const t0 = performance.now();
    const parseMs = await decide(one[turn]);
    const ms = performance.now() - t0;
    parses.push(parseMs);
    if (turn === 0) first = ms;
    else later.push(ms);
  }
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  await Promise.all(
    sessions.slice(1).map(async (bodies) => {
      for (const body of bodies) {
        await decide(body);
        // Agents think between turns; the next request comes after the answer.
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }),
  );
  delay.disable();
  later.sort((a, b) => a - b);
  parses.sort((a, b) => a - b);
  const at = (list: number[], q: number) => list[Math.min(list.length - 1, Math.floor(q * list.length))] ?? 0;
  const result = { decisionMedianMs: round(at(later, 0.5)), decisionP99Ms: round(at(later, 0.99)), firstTurnMs: round(first), parseMedianMs: round(at(parses, 0.5)), eventLoopDelayP99Ms: round(delay.percentile(99) / 1e6), eventLoopDelayMaxMs: round(delay.max / 1e6) };
  process.stderr.write(`${name}: ${JSON.stringify(result)}\n`);
  return result;
}

export async function runRoutingBench(argv: string[]): Promise<RoutingReport> {
  const { values } = parseArgs({ args: argv, options: { quick: { type: 'boolean', default: false } } });
  const quick = values.quick === true;
  const sessionCount = quick ? 2 : 5;
  const turns = quick ? 4 : 21;
  // ~100k tokens to start with (16 large tool results), then a turn of ~1k tokens each time.
  const sessions = Array.from({ length: sessionCount }, (_, s) => sessionBodies(s, turns, quick ? 4 : 16, quick ? 4_000 : 20_000, quick ? 2_000 : 4_000));

  const catalog = createCatalog(new Map([['main', [{ name: 'sonnet', upstream: 'sonnet' }]], ['wide', [{ name: 'long', upstream: 'long' }]], ['fast', [{ name: 'haiku', upstream: 'haiku' }]]]));
  const counter = new TokenCounter({ log });
  await counter.warm();
  const scope = { name: 'router', path: 'pipeline[0]', log, configDir: '.', models: [], inherited: undefined, catalog, shared: <T>(_key: string, create: () => T) => create(), tokens: counter, pluginStates: () => [] };
  const threshold = quick ? 5_000 : 60_000;
  const router = routerPlugin.create({ default: 'main/sonnet', background: 'fast/haiku', long_context: { target: 'wide/long', threshold }, subagent_tags: true }, scope);
  await router.provision?.();
  await router.validate?.(catalog);

  const firstCtx = contextFor(sessions[0][0], catalog, counter);
  const firstTurnTokens = (await firstCtx.countTokens()).tokens;
  const lastCtx = contextFor(sessions[0][turns - 1], catalog, counter);
  const lastTurnTokens = (await lastCtx.countTokens()).tokens;
  // Start from an empty block cache, as a freshly started router would.
  await counter.close();
  const fresh = new TokenCounter({ log });
  await fresh.warm();
  (scope as { tokens: TokenCounter }).tokens = fresh;

  const viaRouter = await measure('router (block cache, workers)', sessions, async (body) => {
    let parseMs = 0;
    const ctx = contextFor(body, catalog, fresh, (ms) => (parseMs = ms));
    await router.handle!(ctx, async () => {});
    if (!ctx.route) throw new Error('no route');
    return parseMs;
  });

  // What routers commonly do: parse, then count every text, every tool definition and the
  // framing with the tokenizer on the main thread (here in the Claude family's terms, as above).
  const { countTokens } = await import('gpt-tokenizer/encoding/o200k_base');
  const asText = { disallowedSpecial: new Set<string>() };
  countTokens('warm up', asText);
  const claude = tokenFamilies.claude;
  const mainThread = await measure('whole request on the main thread', sessions, async (body) => {
    const t0 = performance.now();
    const request = anthropicCodec.parseRequest(JSON.parse(body.toString()) as Record<string, unknown>);
    const parseMs = performance.now() - t0;
    const blocks = requestBlocks(request);
    let tokens = 0;
    for (const text of familyTexts(blocks, claude)) tokens += countTokens(text, asText);
    tokens = Math.ceil(tokens * claude.scale) + framingOf(blocks, claude);
    if (tokens < 0) throw new Error('unreachable');
    return parseMs;
  });
  await fresh.close();
  await router.cleanup?.();

  return { sessions: sessionCount, turns, firstTurnTokens, lastTurnTokens, router: viaRouter, mainThread };
}

export function renderRouting(report: RoutingReport): string {
  const r = report.router;
  const m = report.mainThread;
  const ratio = (a: number, b: number) => (a === 0 ? '–' : `${(b / a).toFixed(1)}×`);
  return [
    `Routing decision on a Claude Code conversation of ${report.firstTurnTokens.toLocaleString('en')} → ${report.lastTurnTokens.toLocaleString('en')} tokens (the Claude estimate the kernel counts a Claude model's request with) over ${report.turns} turns; decision times from the received bytes to the route (parsing and hashing included), one session's turns in sequence; event-loop delay while ${report.sessions - 1} more sessions send theirs at once:`,
    '',
    '| | router-kernel (block cache, worker pool) | whole request counted on the main thread | main thread / router-kernel |',
    '| --- | ---: | ---: | ---: |',
    `| decision per turn after the first, median | ${r.decisionMedianMs} ms | ${m.decisionMedianMs} ms | ${ratio(r.decisionMedianMs, m.decisionMedianMs)} |`,
    `| decision per turn after the first, p99 | ${r.decisionP99Ms} ms | ${m.decisionP99Ms} ms | ${ratio(r.decisionP99Ms, m.decisionP99Ms)} |`,
    `| first turn (nothing cached) | ${r.firstTurnMs} ms | ${m.firstTurnMs} ms | ${ratio(r.firstTurnMs, m.firstTurnMs)} |`,
    `| of which parsing the body, median | ${r.parseMedianMs} ms | ${m.parseMedianMs} ms | |`,
    `| event-loop delay p99 | ${r.eventLoopDelayP99Ms} ms | ${m.eventLoopDelayP99Ms} ms | ${ratio(r.eventLoopDelayP99Ms, m.eventLoopDelayP99Ms)} |`,
    `| event-loop delay max | ${r.eventLoopDelayMaxMs} ms | ${m.eventLoopDelayMaxMs} ms | ${ratio(r.eventLoopDelayMaxMs, m.eventLoopDelayMaxMs)} |`,
    '',
    `Targets: median decision under 3 ms (${r.decisionMedianMs <= 3 ? 'met' : '**not met**'}); event-loop delay p99 under 20 ms (${r.eventLoopDelayP99Ms <= 20 ? 'met' : '**not met**'}).`,
    '',
  ].join('\n');
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const report = await runRoutingBench(process.argv.slice(2).filter((arg) => arg !== '--write-docs'));
  const markdown = renderRouting(report);
  if (process.argv.includes('--write-docs')) {
    const doc = fileURLToPath(new URL('../docs/performance.md', import.meta.url));
    updateDocs(doc, `Run ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}, Node ${process.version}.\n\n${markdown}`, { start: '<!-- routing results: generated by npm run bench:routing -- --write-docs -->', end: '<!-- end of routing results -->' });
  }
  process.stdout.write(markdown);
  process.stdout.write(`\n${JSON.stringify(report)}\n`);
}
