/**
 * pino, configured once at start-up: JSON lines on stderr (as Caddy does, leaving stdout for the
 * CLI's own messages), readable colour output instead when stderr is a terminal. Known secret
 * fields are redacted wherever they appear; request bodies are only logged when router.yaml asks.
 */
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

export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? 2;
  const tty = typeof destination === 'number' ? (destination === 2 ? process.stderr.isTTY : process.stdout.isTTY) : false;
  const wantPretty = options.format === 'pretty' || (options.format !== 'json' && tty === true);
  const base = { level: options.level ?? 'info', base: undefined, redact: { paths: redactPaths, censor: '[redacted]' } };
  if (wantPretty) {
    return pino(base, pretty({ destination, colorize: tty === true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l', sync: true }));
  }
  const stream = typeof destination === 'number' ? pino.destination({ dest: destination, sync: false }) : destination;
  return pino(base, stream);
}
