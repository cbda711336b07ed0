import assert from 'node:assert/strict';
import fc from 'fast-check';
import t from 'tap';
import { RawJsonObject } from '../../core/dialects/raw-json.ts';

const read = (text: string) => new RawJsonObject(Buffer.from(text));

t.test('fields are read on their own, whatever the rest of the body holds', async (t) => {
  const body = read(' {\n "messages" : [{"content":"a \\"}\\" ]{ \\\\", "x":{"y":[1,{}]}}],\t"model":"claude-sonnet-4-5","stream":true ,"max_tokens":32000,"n":null,"é":"ü"} ');
  t.equal(body.field('model'), 'claude-sonnet-4-5');
  t.equal(body.field('stream'), true);
  t.equal(body.field('max_tokens'), 32000);
  t.equal(body.field('n'), null);
  t.equal(body.field('é'), 'ü');
  t.equal(body.field('absent'), undefined);
  t.same(body.field('messages'), [{ content: 'a "}" ]{ \\', x: { y: [1, {}] } }]);
  t.same(body.parse(), JSON.parse(body.bytes.toString()));
});

t.test('escaped quotes and backslashes are found wherever they fall in short and long strings', async (t) => {
  let checked = 0;
  for (let length = 55; length < 75; length++) {
    for (const escape of ['\\"', '\\\\', '\\\\\\"', '\\u0022']) {
      for (let at = 0; at < length; at += 7) {
        const inner = 'x'.repeat(at) + escape + 'y'.repeat(length - at);
        const text = `{"a":"${inner}","b":[{"c":"${inner}"}],"model":"m"}`;
        const body = read(text);
        assert.equal(body.field('model'), 'm');
        assert.deepStrictEqual(body.field('b'), JSON.parse(text).b);
        checked++;
      }
    }
  }
  t.ok(checked > 500, `${checked} placements checked`);
});

t.test('withString changes one field and leaves every other byte alone', async (t) => {
  const text = '{"model":"a","messages":[{"role":"user","content":"héllo \\"model\\":\\"a\\""}],"stream":false}';
  const edited = read(text).withString('model', 'deepseek/deepseek-chat "v3"');
  t.ok(edited);
  t.equal(Buffer.concat(edited!).toString(), text.replace('"model":"a"', '"model":"deepseek/deepseek-chat \\"v3\\""'));
  t.equal(read('{"model":1}').withString('model', 'x'), undefined, 'a field that is not a string is not edited');
  t.equal(read('{"stream":true}').withString('model', 'x'), undefined, 'an absent field is not added');
  t.equal(read('{"model":"a","model":"b"}').withString('model', 'x'), undefined, 'a repeated field is not edited');
});

t.test('a repeated field reads as JSON.parse reads it: the last one wins', async (t) => {
  const body = read('{"model":"cheap","messages":[],"model":"expensive"}');
  t.equal(body.field('model'), 'expensive');
  t.ok(body.duplicated('model'));
  t.notOk(body.duplicated('messages'));
});

t.test('bodies that are not one JSON object are refused with RK_BAD_JSON', async (t) => {
  for (const text of ['', '[]', '"model"', '{"model":"a"', '{"model":"a"} {}', '{"model" "a"}', '{"model":}', '{model:"a"}', '{"messages":[{"a":1]', '{"a":"unterminated}']) {
    t.throws(() => read(text), { code: 'RK_BAD_JSON' }, JSON.stringify(text));
  }
  t.throws(() => read('{"model":tru}').parse(), { code: 'RK_BAD_JSON' }, 'a value the scan skips is still checked when parsed');
  t.throws(() => read('{"model":tru}').field('model'), { code: 'RK_BAD_JSON' });
  t.same(read('{}').parse(), {});
});

t.test('any JSON object, however formatted: every field and every edit match JSON.parse', async (t) => {
  const formatted = fc.tuple(fc.dictionary(fc.string({ unit: 'binary' }), fc.jsonValue()), fc.constantFrom(undefined, 1, '\t', ' \n '));
  fc.assert(
    fc.property(formatted, fc.string({ unit: 'binary' }), ([object, indent], value) => {
      const text = JSON.stringify(object, null, indent);
      const body = read(text);
      const parsed = JSON.parse(text) as Record<string, unknown>;
      for (const key of Object.keys(parsed)) {
        assert.deepStrictEqual(body.field(key), parsed[key]);
        const edited = body.withString(key, value);
        if (typeof parsed[key] === 'string') assert.deepStrictEqual(JSON.parse(Buffer.concat(edited!).toString()), { ...parsed, [key]: value });
        else assert.equal(edited, undefined);
      }
    }),
    { numRuns: 300 },
  );
  t.pass('300 random objects read and edited like JSON.parse');
});

t.test('a large body parsed in pieces equals JSON.parse of the whole, duplicates and __proto__ included', async (t) => {
  const big = (inner: string) => `[${Array.from({ length: 40 }, (_, i) => `{"i":${i},"text":"${'x'.repeat(2000)}","inner":${inner}}`).join(' , ')}]`;
  const text = `{ "model":"a", "__proto__":{"x":1}, "messages": ${big('{"a":1,"a":2,"__proto__":[1]}')}, "model":"b", "tools":[], "nested":{"deep":${big('[]')}} }`;
  t.ok(text.length > 128 * 1024, 'larger than the piece size');
  const parsed = read(text).parse();
  t.same(parsed, JSON.parse(text));
  t.same(Object.keys(parsed), Object.keys(JSON.parse(text)), 'members in the same order');
  t.equal(Object.getPrototypeOf(parsed), Object.prototype);
  t.ok(Object.hasOwn(parsed, '__proto__'), '__proto__ is an own member, as JSON.parse makes it');
  t.throws(() => read(text.replace('"i":7,', '"i":7x,')).parse(), { code: 'RK_BAD_JSON' }, 'a bad value inside a piece is still refused');
});

t.test('any large JSON object parses in pieces to what JSON.parse gives', async (t) => {
  const padding = fc.array(fc.jsonValue(), { minLength: 1, maxLength: 4 });
  fc.assert(
    fc.property(fc.dictionary(fc.string(), fc.jsonValue()), padding, fc.constantFrom(undefined, '\t'), (object, extra, indent) => {
      const value = { ...object, pad: Array.from({ length: 300 }, (_, i) => ({ i, extra, text: 'é'.repeat(i % 3) + 'y'.repeat(300) })) };
      const text = JSON.stringify(value, null, indent);
      assert.deepStrictEqual(read(text).parse(), JSON.parse(text));
    }),
    { numRuns: 60 },
  );
  t.pass('60 random large objects');
});

t.test('a large body with a repeated field is refused when any copy of it is not JSON, as JSON.parse does', async (t) => {
  const pad = `"messages":[${Array.from({ length: 40 }, () => `"${'x'.repeat(2000)}"`).join(',')}]`;
  t.throws(() => read(`{"system":"\\uZZZZ",${pad},"system":"ok"}`).parse(), { code: 'RK_BAD_JSON' }, 'a bad escape in the overwritten copy');
  t.throws(() => read(`{"tools":[1 2],${pad},"tools":[]}`).parse(), { code: 'RK_BAD_JSON' }, 'a bad array in the overwritten copy');
  t.equal((read(`{"model":"a",${pad},"model":"b"}`).parse() as { model: string }).model, 'b', 'valid copies: the last wins');
});
