import assert from 'node:assert/strict';
import fc from 'fast-check';
import { pino, type Logger } from 'pino';
import t from 'tap';
import { redactPaths } from '../../core/logger.ts';
import { captureLogs } from '../helpers/logs.ts';

const ours = () => captureLogs();
/** What pino's own `redact` option writes for the same paths: the behaviour ours must keep. */
const pinos = () => captureLogs((sink) => pino({ level: 'debug', base: undefined, redact: { paths: redactPaths, censor: '[redacted]' } }, sink));

/** Lines as two loggers can agree on them: without their time, stacks without the lines they were made on. */
function comparable(lines: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return JSON.parse(JSON.stringify(lines.map(({ time: _time, ...rest }) => rest)).replace(/"stack":"(?:[^"\\]|\\.)*"/g, '"stack":"…"')) as Array<Record<string, unknown>>;
}

/** Objects made of the names the paths use, and others, nested a few levels. */
const names = fc.constantFrom('headers', 'req', 'body', 'authorization', 'x-api-key', 'api_key', 'apiKey', 'keys', 'admin_key', 'name', 'usage', 'constructor', '*');
const leaf = fc.oneof(fc.string({ maxLength: 6 }), fc.integer(), fc.boolean(), fc.constant(null));
const { node } = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('object'), fc.array(tie('node'), { maxLength: 3 })),
  object: fc.dictionary(names, tie('node'), { maxKeys: 5 }),
}));
const line = fc.dictionary(names, node, { maxKeys: 6 });

t.test('every line is censored exactly as pino`s redact option would censor it, and the caller`s object is left alone', async (t) => {
  fc.assert(
    fc.property(line, (object) => {
      const before = JSON.stringify(object);
      const a = ours();
      const b = pinos();
      a.log.info(object, 'line');
      b.log.info(structuredClone(object), 'line');
      assert.deepEqual(comparable(a.lines), comparable(b.lines));
      assert.equal(JSON.stringify(object), before);
    }),
    { numRuns: 500 },
  );
  t.pass();
});

t.test('secrets are censored in child bindings, errors and request-shaped fields, as pino would', async (t) => {
  const secret = 'sk-live-0123456789';
  const write = (log: Logger) => {
    log.child({ provider: { api_key: secret, name: 'a' } }).child({ plugin: 'p' }).info('bound');
    log.error({ err: Object.assign(new Error('upstream failed'), { api_key: secret }), headers: { authorization: `Bearer ${secret}`, accept: '*/*' } }, 'failed');
    log.error(Object.assign(new Error('thrown'), { keys: [secret] }));
    log.info({ req: { headers: { 'x-api-key': secret, host: 'h' } }, body: { api_key: secret, model: 'm' } }, 'request');
  };
  const a = ours();
  const b = pinos();
  write(a.log);
  write(b.log);
  t.same(comparable(a.lines), comparable(b.lines));
  t.notMatch(JSON.stringify(a.lines), secret, 'no secret anywhere');
  t.same(comparable(a.lines)[0], { level: 30, provider: { api_key: '[redacted]', name: 'a' }, plugin: 'p', msg: 'bound' });
  t.match(a.lines[1], { err: { type: 'Error', message: 'upstream failed', api_key: '[redacted]', stack: /upstream failed/ }, headers: { authorization: '[redacted]', accept: '*/*' } });
  t.match(a.lines[2], { err: { message: 'thrown', keys: '[redacted]' }, msg: 'thrown' });
});

/** Every string in a value replaced by a token of its own, to tell which of them were written. */
function tokenized(value: unknown, next = { n: 0 }): unknown {
  if (typeof value === 'string') return `tok${next.n++}x`;
  if (Array.isArray(value)) return value.map((v) => tokenized(v, next));
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, tokenized(v, next)]));
  return value;
}
const tokensIn = (text: string) => new Set(text.match(/tok\d+x/g) ?? []);

t.test('an object interpolated into a message shows nothing that pino`s redaction would have censored', async (t) => {
  fc.assert(
    fc.property(line, (generated) => {
      const object = tokenized(generated) as object;
      const a = ours();
      const b = pinos();
      a.log.info('value %j', object);
      b.log.info('value %j', structuredClone(object));
      const written = tokensIn(String(a.lines[0].msg));
      for (const token of written) assert.ok(tokensIn(String(b.lines[0].msg)).has(token), `${token} was censored by pino`);
    }),
    { numRuns: 300 },
  );
  t.pass();
});

t.test('classes, dates, errors, frozen objects, URLs, boxed values and proxies are written as pino`s redaction writes them', async (t) => {
  class Hidden {
    api_key = 'sk-secret-5';
    password = 'hunter2';
    name = 'n';
    toJSON() {
      return { name: this.name };
    }
  }
  const when = Object.assign(new Date(0), { api_key: 'sk-secret-6' });
  const frozen = Object.freeze({ api_key: 'sk-secret-7', model: 'm' });
  class Private {
    #secret = 'sk-secret-14';
    toJSON() {
      return { s: this.#secret };
    }
  }
  // Values a copy serializes differently from the original (pino's redactor writes the copy).
  const odd = {
    url: new URL('https://user:sk-secret-15@example.com/v1'),
    boxed: [new String('abc'), new Number(7), new Boolean(false)],
    hiddenToJson: Object.defineProperty({ a: 1 }, 'toJSON', { value: () => 'TJ' }),
    ownToJsonDate: Object.assign(new Date(0), { toJSON: () => 'custom' }),
    lyingProxy: new Proxy({ api_key: 'sk-secret-16', a: 1 }, { has: () => false }),
    protoField: JSON.parse('{"__proto__":{"api_key":"sk-secret-17"},"a":1}') as unknown,
    privateField: new Private(),
  };
  const write = (log: Logger) => {
    log.info({ hidden: new Hidden(), when, frozen }, 'values');
    log.info({ ...odd, boxed: undefined, bs: odd.boxed[0], bn: odd.boxed[1], bb: odd.boxed[2] }, 'odd values');
    log.child(odd).info('odd bindings');
    log.info('failed: %s', Object.assign(new Error('boom'), { api_key: 'sk-secret-8' }));
    log.child({ err: Object.assign(new Error('bound'), { api_key: 'sk-secret-9' }) }).info('child');
  };
  const a = ours();
  const b = pinos();
  write(a.log);
  write(b.log);
  t.same(comparable(a.lines), comparable(b.lines));
  t.same(comparable(a.lines)[0], { level: 30, hidden: { name: 'n' }, when: '1970-01-01T00:00:00.000Z', frozen: { api_key: '[redacted]', model: 'm' }, msg: 'values' });
  t.notMatch(JSON.stringify(a.lines.slice(0, 1)), 'sk-secret', 'no secret in the first line');
});

t.test('a plugin`s child logger cannot write a secret past the redaction: setBindings, its own formatter, its own serializers, a message given as an object', async (t) => {
  const { log, lines } = ours();
  const scope = log.child({ plugin: 'p' });
  scope.setBindings({ provider: { api_key: 'sk-secret-10' } });
  scope.info('rebound');
  log.child({}, { formatters: { log: (object: object) => ({ ...object, extra: { api_key: 'sk-secret-11' } }) } }).info({ a: 1 }, 'formatted');
  log.child({}, { serializers: { x: (value: unknown) => ({ api_key: value }) } }).info({ x: 'sk-secret-12' }, 'serialized');
  // Not in pino's types, but pino writes such a message as an object, and so may a plugin.
  (log.info as (...args: unknown[]) => void)({ request: 2 }, { api_key: 'sk-secret-13', keep: 2 });
  t.notMatch(JSON.stringify(lines), 'sk-secret', 'no secret anywhere');
  t.match(lines[0], { plugin: 'p', provider: { api_key: '[redacted]' } });
  t.match(lines[1], { a: 1, extra: { api_key: '[redacted]' } });
  t.match(lines[2], { x: { api_key: '[redacted]' } });
  t.same(lines[3].msg, { api_key: '[redacted]', keep: 2 });
});

t.test('a field named __proto__ or * holds no secret that gets written', async (t) => {
  const write = (log: Logger) => {
    log.info({ options: JSON.parse('{"__proto__":"kept","api_key":"sk-secret-value"}') }, 'nested');
    log.info(JSON.parse('{"__proto__":{"api_key":"sk-secret-value","name":"a"}}') as Record<string, unknown>, 'top');
    log.info({ '*': { api_key: 'sk-secret-value' } }, 'star');
  };
  const a = ours();
  const b = pinos();
  write(a.log);
  write(b.log);
  t.same(comparable(a.lines), comparable(b.lines));
  t.notMatch(JSON.stringify(a.lines), 'sk-secret', 'no secret anywhere');
});
