/**
 * Bytes allocated per request, garbage included: steadier than CPU time on a shared machine (two
 * runs of the same build agree within ~1% where CPU drifts 20-40%), so it is what changes to the
 * hot path are compared by (docs/performance.md, "What we tried"). Preload it into the router:
 *
 *   node --require ./bench/alloc-profile.cjs bin/router-kernel.js --config router.yaml
 *   # ... send traffic (npm run bench cases, bench/load.ts, curl), then Ctrl-C / SIGTERM:
 *   alloc: 48.3 KB per request over 9002 requests (sampled from 3000 ms after start)
 *     12.1%  onBody node_modules/undici/lib/dispatcher/client-h1.js:696
 *
 * V8's sampling heap profiler, started through node:inspector with objects later collected by
 * minor and major GCs kept in the profile (its default keeps only what is still alive). Requests
 * are those any HTTP server in the process received while it sampled (health checks and admin
 * calls too: send only the traffic you mean to measure). Environment:
 *   ALLOC_PROFILE_AFTER_MS  start sampling this long after start-up (default 3000: skip warm-up)
 *   ALLOC_PROFILE_OUT       also write the .heapprofile there (opens in Chrome DevTools)
 *   ALLOC_PROFILE_TOP       how many functions to list by bytes allocated (default 15)
 * CommonJS so that `--require` loads it before anything else, with or without tsx.
 */
'use strict';
const inspector = require('node:inspector');
const http = require('node:http');
const { writeFileSync } = require('node:fs');

const afterMs = Number(process.env.ALLOC_PROFILE_AFTER_MS ?? 3000);
const top = Number(process.env.ALLOC_PROFILE_TOP ?? 15);
const session = new inspector.Session();
session.connect();
session.post('HeapProfiler.enable');

let sampling = false;
let requests = 0;
const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (name, ...args) {
  if (sampling && name === 'request') requests++;
  return emit.call(this, name, ...args);
};

setTimeout(() => {
  const params = { samplingInterval: 2048, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true };
  session.post('HeapProfiler.startSampling', params, (err) => {
    if (err) process.stderr.write(`alloc: cannot sample: ${err.message}\n`);
    else sampling = true;
  });
}, afterMs).unref();

let reported = false;
function report() {
  if (reported) return;
  reported = true;
  if (!sampling) return process.stderr.write('alloc: stopped before sampling began\n');
  sampling = false;
  // A session in the same thread answers synchronously, so this finishes before the process exits.
  session.post('HeapProfiler.stopSampling', (err, result) => {
    if (err) return process.stderr.write(`alloc: ${err.message}\n`);
    const bySite = new Map();
    let total = 0;
    const walk = (node) => {
      total += node.selfSize;
      const frame = node.callFrame;
      const site = `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*?(node_modules\/|dist\/|core\/|plugins\/)/, '$1')}:${frame.lineNumber + 1}`;
      bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
      for (const child of node.children) walk(child);
    };
    walk(result.profile.head);
    if (process.env.ALLOC_PROFILE_OUT) writeFileSync(process.env.ALLOC_PROFILE_OUT, JSON.stringify(result.profile));
    const perRequest = requests > 0 ? (total / 1024 / requests).toFixed(1) : 'n/a';
    const lines = [`alloc: ${perRequest} KB per request over ${requests} requests (sampled from ${afterMs} ms after start)`];
    for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${((bytes / total) * 100).toFixed(1).padStart(5)}%  ${site}`);
    process.stderr.write(lines.join('\n') + '\n');
  });
}

// Before the router's own handlers, which begin its shutdown.
for (const signal of ['SIGINT', 'SIGTERM']) process.prependListener(signal, report);
