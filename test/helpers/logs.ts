/**
 * A debug-level JSON logger whose lines are kept, parsed, for a test to look at; `make` builds
 * another logger on the same sink (a test comparing ours with plain pino's).
 *
 *   const { log, lines } = captureLogs();
 *   ...
 *   t.ok(lines.some((line) => line.msg === 'request'));
 */
import { Writable } from 'node:stream';
import type { Logger } from '../../core/contract.ts';
import { createLogger } from '../../core/logger.ts';

export interface CapturedLogs {
  log: Logger;
  lines: Array<Record<string, any>>;
  /** Raw log text, for checks that nothing secret was written. */
  text(): string;
}

export function captureLogs(make: (sink: Writable) => Logger = (sink) => createLogger({ level: 'debug', format: 'json', destination: sink })): CapturedLogs {
  const lines: Array<Record<string, any>> = [];
  let raw = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      raw += chunk.toString();
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: make(sink), lines, text: () => raw };
}
