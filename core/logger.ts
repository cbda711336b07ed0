/**
 * pino, configured once at start-up: JSON lines on stderr (as Caddy does, leaving stdout for the
 * CLI's own messages), readable colour output instead when stderr is a terminal. Known secret
 * fields are redacted wherever they appear; request bodies are only logged when router.yaml asks.
 */
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { redactor } from './log-redaction.ts';

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

const redact = redactor(redactPaths, '[redacted]');

/**
 * The paths above applied everywhere pino's own `redact` option would apply them: the fields of
 * each line, a child logger's bindings (censorChildBindings, below) and the error under `err`
 * once serialized; and to objects interpolated into a message (`log.info('options %j', options)`),
 * which pino's option leaves alone. pino's option is not used: it cost 5–8 µs on every request
 * line (see log-redaction.ts).
 */
const redaction = {
  formatters: {
    log: (object: Record<string, unknown>) => (Object.prototype.hasOwnProperty.call(object, 'err') ? redactBesideErr(object) : (redact(object) as Record<string, unknown>)),
  },
  serializers: {
    // pino serializes `err` after the formatter ran: censored in its serialized form, as pino would.
    err: (err: unknown) => (redact({ err: pino.stdSerializers.err(err as Error) }) as { err: unknown }).err,
  },
  hooks: {
    logMethod(this: Logger, args: Parameters<Logger['info']>, method: (...args: unknown[]) => void) {
      // Interpolation arguments follow the message (which follows the merging object, if any).
      // Each is censored as a field's value would be (pino's option leaves them as they are).
      const from = typeof args[0] === 'string' ? 1 : 2;
      for (let i = from; i < args.length; i++) (args as unknown[])[i] = (redact({ arg: args[i] }) as { arg: unknown }).arg;
      method.apply(this, args);
    },
  },
};

/** The line's other fields censored; `err` left for its serializer (a copy would lose its stack). */
function redactBesideErr(object: Record<string, unknown>): Record<string, unknown> {
  const { err, ...rest } = object;
  const censored = redact(rest) as Record<string, unknown>;
  if (censored === rest) return object;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(object)) Object.defineProperty(out, key, { value: key === 'err' ? err : censored[key], writable: true, enumerable: true, configurable: true });
  return out;
}

/** Child loggers' bindings are censored too: pino's `formatters.bindings` sees the root's only. */
function censorChildBindings(logger: Logger): Logger {
  const child = logger.child;
  // Every descendant inherits this method (pino makes a child with Object.create(parent)).
  logger.child = function (this: Logger, bindings: Parameters<Logger['child']>[0], options?: Parameters<Logger['child']>[1]) {
    return child.call(this, redact(bindings) as typeof bindings, options);
  } as Logger['child'];
  return logger;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? 2;
  const tty = typeof destination === 'number' ? (destination === 2 ? process.stderr.isTTY : process.stdout.isTTY) : false;
  const wantPretty = options.format === 'pretty' || (options.format !== 'json' && tty === true);
  const base = { level: options.level ?? 'info', base: undefined, ...redaction };
  if (wantPretty) {
    return censorChildBindings(pino(base, pretty({ destination, colorize: tty === true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l', sync: true })));
  }
  const stream = typeof destination === 'number' ? pino.destination({ dest: destination, sync: false }) : destination;
  return censorChildBindings(pino(base, stream));
}
