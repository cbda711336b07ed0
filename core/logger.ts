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

/** A value censored as the line's field `key` would be (`*.api_key` reaches its `api_key`). */
function censorField(key: string, value: unknown): unknown {
  return (redact({ [key]: value }) as Record<string, unknown>)[key];
}

/**
 * The paths above, applied wherever pino's own `redact` option would apply them: each line's
 * fields (errors included, before pino serializes them), a non-string message, objects
 * interpolated into a message (`log.info('options %j', options)`) and child loggers' bindings
 * (guardChildren, below). pino's option is not used: it cost 5–8 µs on every request line (see
 * log-redaction.ts).
 */
const redaction = {
  formatters: {
    log: (object: Record<string, unknown>) => redact(object) as Record<string, unknown>,
  },
  hooks: {
    logMethod(this: Logger, args: Parameters<Logger['info']>, method: (...args: unknown[]) => void) {
      const all = args as unknown[];
      // log.info(object?, message?, ...interpolated)
      const message = typeof all[0] === 'string' ? 0 : 1;
      if (message === 1 && all.length > 1 && typeof all[1] !== 'string') all[1] = censorField('msg', all[1]);
      // An interpolated object as pino's option takes it (as a whole line), and also as a field
      // (its own `api_key` too): `%j` of a provider's options must not print its key.
      for (let i = message + 1; i < all.length; i++) all[i] = censorField('arg', redact(all[i]));
      method.apply(this, all);
    },
  },
};

/**
 * Child loggers (every plugin's `scope.log` and `ctx.log` is one) are censored too: their bindings,
 * later `setBindings`, and what a child's own log formatter or serializers return, which pino
 * would otherwise write past our formatter. Every descendant inherits these methods (pino makes
 * a child with Object.create(parent)).
 */
function guardChildren(logger: Logger): Logger {
  const child = logger.child;
  const setBindings = logger.setBindings;
  logger.child = function (this: Logger, bindings: Parameters<Logger['child']>[0], options?: Parameters<Logger['child']>[1]) {
    return child.call(this, redact(bindings) as typeof bindings, options && guardedOptions(options));
  } as Logger['child'];
  logger.setBindings = function (this: Logger, bindings: Parameters<Logger['setBindings']>[0]) {
    setBindings.call(this, redact(bindings) as typeof bindings);
  };
  return logger;
}

type ChildOptions = NonNullable<Parameters<Logger['child']>[1]>;

function guardedOptions(options: ChildOptions): ChildOptions {
  const out: ChildOptions = { ...options };
  const theirLog = options.formatters?.log;
  if (theirLog) out.formatters = { ...options.formatters, log: (object) => redact(theirLog(object)) as Record<string, unknown> };
  if (options.serializers) {
    const serializers: Record<string, (value: unknown) => unknown> = {};
    for (const [key, serialize] of Object.entries(options.serializers)) serializers[key] = (value) => censorField(key, serialize(value));
    // Symbol-keyed ones (pino's own) are kept as they are.
    for (const symbol of Object.getOwnPropertySymbols(options.serializers)) Object.defineProperty(serializers, symbol, { value: (options.serializers as Record<symbol, unknown>)[symbol], enumerable: true });
    out.serializers = serializers;
  }
  return out;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? 2;
  const tty = typeof destination === 'number' ? (destination === 2 ? process.stderr.isTTY : process.stdout.isTTY) : false;
  const wantPretty = options.format === 'pretty' || (options.format !== 'json' && tty === true);
  const base = { level: options.level ?? 'info', base: undefined, ...redaction };
  if (wantPretty) {
    return guardChildren(pino(base, pretty({ destination, colorize: tty === true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l', sync: true })));
  }
  const stream = typeof destination === 'number' ? pino.destination({ dest: destination, sync: false }) : destination;
  return guardChildren(pino(base, stream));
}
