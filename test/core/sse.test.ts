import t from 'tap';
import { encodeSse, SseReader, type SseEvent } from '../../core/sse.ts';

const stream = [
  encodeSse('{"text":"plain ascii"}', 'delta'),
  encodeSse('{"text":"naïve café — 😀 ✓"}'),
  ': keep-alive\n\n',
  encodeSse('line one\nline two: ü', 'multi'),
  'data: last\r\n\r\n',
].join('');

function readAll(chunks: Uint8Array[]): SseEvent[] {
  const reader = new SseReader();
  const out: SseEvent[] = [];
  for (const chunk of chunks) out.push(...reader.push(chunk));
  out.push(...reader.end());
  return out;
}

t.test('a stream cut at every byte, ASCII and multi-byte characters alike, reads as the whole', async (t) => {
  const bytes = Buffer.from(stream);
  const whole = readAll([bytes]);
  t.same(
    whole.map((e) => e.data),
    ['{"text":"plain ascii"}', '{"text":"naïve café — 😀 ✓"}', 'line one\nline two: ü', 'last'],
  );
  for (let at = 1; at < bytes.length; at++) {
    // Views into one buffer and plain Uint8Arrays (not Buffers) are both read.
    const chunks = [bytes.subarray(0, at), new Uint8Array(bytes.subarray(at))];
    t.same(readAll(chunks), whole, `cut at byte ${at}`);
  }
  for (let size = 1; size <= 5; size++) {
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
    t.same(readAll(chunks), whole, `in ${size}-byte chunks`);
  }
});

t.test('a byte order mark starts the stream only once: one in the text later is kept', async (t) => {
  const events = (chunks: string[]) => readAll(chunks.map((c) => Buffer.from(c)));
  t.same(events(['\uFEFFdata: first\n\n']).map((e) => e.data), ['first'], 'a leading BOM is stripped');
  t.same(events(['data: a\n\n', 'data: \uFEFFusing System;\n\n']).map((e) => e.data), ['a', '\uFEFFusing System;'], 'a U+FEFF in a later chunk is text');
});
