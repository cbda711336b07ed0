/**
 * Usage read from a passthrough stream however the upstream cuts it: chunks that end between
 * events are passed on without being decoded, so the reader must stay in step when chunks end
 * mid-event, mid-character or mid-marker, with LF and CRLF line ends, and the bytes must reach
 * the client unchanged.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { upstreamClient } from '../../core/upstream/http-client.ts';
import { passthrough } from '../../core/upstream/passthrough.ts';
import { upstreamScope } from '../helpers/upstream-scope.ts';

/** An upstream that writes exactly these chunks, each in its own write, with a pause between. */
async function scripted(t: Test, chunks: string[] | Buffer[]) {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', async () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const chunk of chunks) {
        res.write(chunk);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return upstreamClient(upstreamScope(t), { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: 1 });
}

async function run(t: Test, dialect: 'openai' | 'anthropic', chunks: string[] | Buffer[]) {
  const http = await scripted(t, chunks);
  const answer = await passthrough({ http, provider: 'up', path: '/x', headers: {}, body: Buffer.from('{}'), dialect, signal: new AbortController().signal });
  if (answer.kind !== 'passthrough' || Array.isArray(answer.body)) throw new Error('expected a streamed passthrough');
  const out: Buffer[] = [];
  for await (const chunk of answer.body as AsyncIterable<Uint8Array>) out.push(Buffer.from(chunk));
  return { bytes: Buffer.concat(out), usage: await answer.usage };
}

const openaiEvent = (content: string) => `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":${JSON.stringify(content)}},"finish_reason":null}]}\n\n`;
const openaiUsage = 'data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":31,"completion_tokens":57,"total_tokens":88}}\n\ndata: [DONE]\n\n';

/** Every way of cutting a text into chunks at the given offsets. */
function cut(text: string | Buffer, at: number[]): Buffer[] {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const points = [0, ...at.filter((n) => n > 0 && n < bytes.length).sort((a, b) => a - b), bytes.length];
  return points.slice(1).map((end, i) => bytes.subarray(points[i], end));
}

t.test('OpenAI: usage after many whole-event chunks', async (t) => {
  const chunks = [...Array.from({ length: 40 }, (_, i) => openaiEvent(`word${i} café `)), openaiUsage];
  const { bytes, usage } = await run(t, 'openai', chunks);
  t.equal(bytes.toString(), chunks.join(''), 'the bytes, unchanged');
  t.match(usage, { inputTokens: 31, outputTokens: 57 });
});

t.test('OpenAI: chunks cut mid-event, mid-character and mid-marker', async (t) => {
  const whole = Buffer.from([...Array.from({ length: 10 }, (_, i) => openaiEvent(`é${i}😀`)), openaiUsage].join(''));
  const usageAt = whole.indexOf('"usage"');
  const emoji = whole.indexOf(Buffer.from('😀'));
  for (const points of [
    [emoji + 1, emoji + 2, usageAt + 3],
    [usageAt - 1, usageAt + 4, usageAt + 9],
    [whole.indexOf('\n\n') + 1, usageAt + 1],
    Array.from({ length: 60 }, (_, i) => i * 37),
  ]) {
    const { bytes, usage } = await run(t, 'openai', cut(whole, points));
    t.same(bytes, whole, `cut at ${points.slice(0, 4).join(', ')}…: bytes unchanged`);
    t.match(usage, { inputTokens: 31, outputTokens: 57 }, 'usage read');
  }
});

t.test('Anthropic: usage from message_start and message_delta, CRLF line ends, cut anywhere', async (t) => {
  const lines = [
    'event: message_start\r\ndata: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[],"model":"c","usage":{"input_tokens":12,"output_tokens":1}}}\r\n\r\n',
    'event: content_block_start\r\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\r\n\r\n',
    ...Array.from({ length: 20 }, (_, i) => `event: content_block_delta\r\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"naïve ${i} "}}\r\n\r\n`),
    'event: content_block_stop\r\ndata: {"type":"content_block_stop","index":0}\r\n\r\n',
    'event: message_delta\r\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":44}}\r\n\r\n',
    'event: message_stop\r\ndata: {"type":"message_stop"}\r\n\r\n',
  ];
  const whole = Buffer.from(lines.join(''));
  const delta = whole.indexOf('message_delta');
  for (const chunks of [lines.map((l) => Buffer.from(l)), cut(whole, [delta - 3, delta + 5]), cut(whole, [whole.length - 3]), cut(whole, Array.from({ length: 50 }, (_, i) => i * 53 + 1))]) {
    const { bytes, usage } = await run(t, 'anthropic', chunks);
    t.same(bytes, whole, 'bytes unchanged');
    t.match(usage, { inputTokens: 12, outputTokens: 44 }, 'usage read');
  }
});
