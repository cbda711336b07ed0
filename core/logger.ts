/**
 * pino, configured once at start-up: JSON lines on stderr (as Caddy does, leaving stdout for the
 * CLI's own messages), readable colour output instead when stderr is a terminal. Known secret
 * fields are redacted wherever they appear; request bodies are only logged when router.yaml asks.
 */
import { types } from 'node:util';
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export interface LoggerOptions {
  level?: string;
  format?: 'auto' | 'json' | 'pretty';
  /** Where lines go; default stderr (fd 2). Tests pass a stream. */
  destination?: NodeJS.WritableStream | number;
}

export const redactPaths = [
  'headers.authorization',
  'headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'body.api_key',
  '*.api_key',
  '*.apiKey',
  '*.keys',
  '*.admin_key',
];

/**
 * pino's redaction, with its costly case skipped when it cannot change anything. With a path that
 * starts with `*` (`*.api_key`), pino runs a redactor over every top-level value of every line,
 * copying and re-parsing its paths each time: 5–8 µs and ~13 KB of garbage per request line, more
 * than the rest of the line costs. A primitive, or a plain object holding none of those paths'
 * fields, is written directly (what a request line holds): for these, pino's copy would write the
 * same text. Every other value, and everything else (child bindings' other paths, serializers,
 * interpolated objects, the paths that name a field), goes through pino's own redaction.
 */
function skipNeedlessRedaction(logger: Logger): Logger {
  const { stringifiersSym, wildcardFirstSym } = pino.symbols as typeof pino.symbols & { wildcardFirstSym?: symbol };
  const stringifiers = (logger as unknown as Record<symbol, Record<symbol, ((value: unknown) => string) | undefined> | undefined>)[stringifiersSym];
  const redactAny = wildcardFirstSym && stringifiers?.[wildcardFirstSym];
  // Another pino: its own redaction, all of it.
  if (!stringifiers || !wildcardFirstSym || typeof redactAny !== 'function') return logger;
  stringifiers[wildcardFirstSym] = (value: unknown) => {
    if (writesAsItIs(value)) {
      try {
        const text = JSON.stringify(value);
        if (text !== undefined) return text;
      } catch {
        // a cycle or a BigInt: pino's redactor has its own way of writing those
      }
    }
    return redactAny(value);
  };
  return logger;
}

/** The first field of each `*.` path: `api_key`, `apiKey`, `keys`, `admin_key`. */
const wildcardFields = redactPaths.filter((path) => path.startsWith('*.')).map((path) => path.slice(2).split(/[.[]/)[0]);

/**
 * Whether pino's redactor would write the value exactly as JSON.stringify does: a primitive, or a
 * plain object that no `*.` path reaches into (checked with `in`, as the redactor looks). Anything
 * else can serialize differently once copied, as pino's redactor copies it: a class instance or a
 * URL (their toJSON), a boxed primitive, a Proxy, an own `__proto__` field (the copy drops it).
 */
function writesAsItIs(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (types.isProxy(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  if ((proto !== Object.prototype && proto !== null) || Object.prototype.hasOwnProperty.call(value, '__proto__') || 'toJSON' in value) return false;
  for (const field of wildcardFields) if (field in value) return false;
  return true;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? 2;
  const tty = typeof destination === 'number' ? (destination === 2 ? process.stderr.isTTY : process.stdout.isTTY) : false;
  const wantPretty = options.format === 'pretty' || (options.format !== 'json' && tty === true);
  const base = { level: options.level ?? 'info', base: undefined, redact: { paths: redactPaths, censor: '[redacted]' } };
  if (wantPretty) {
    return skipNeedlessRedaction(pino(base, pretty({ destination, colorize: tty === true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l', sync: true })));
  }
  const stream = typeof destination === 'number' ? pino.destination({ dest: destination, sync: false }) : destination;
  return skipNeedlessRedaction(pino(base, stream));
}
