/**
 * Event streams in batches: the same events whichever way they are read (batch by batch or one at
 * a time), a reader that leaves stops the upstream exactly once, a stream that starts with an
 * error fails before anything is sent, and a plugin watching a stream sees every event and its end.
 */
import t from 'tap';
import type { StreamEvent } from '../../core/canonical.ts';
import { beginStream } from '../../core/canonical-stream.ts';
import { EventStream } from '../../core/event-stream.ts';
import { isRouterError } from '../../core/errors.ts';

const text = (s: string): StreamEvent => ({ type: 'text_delta', index: 0, text: s });
const start: StreamEvent = { type: 'start', id: 'msg_1', model: 'm' };
const finish: StreamEvent = { type: 'finish', stopReason: 'end_turn', stopSequence: null, usage: { inputTokens: 3, outputTokens: 2 } };

/** A source handing out the given batches, counting how often it was stopped. */
function source(batches: StreamEvent[][]) {
  const state = { closed: 0, pulls: 0 };
  let at = 0;
  const stream = new EventStream(
    async () => {
      state.pulls++;
      return at < batches.length ? batches[at++] : undefined;
    },
    async () => void state.closed++,
  );
  return { stream, state };
}

async function drain(stream: EventStream): Promise<StreamEvent[][]> {
  const batches: StreamEvent[][] = [];
  for (let batch = await stream.nextBatch(); batch; batch = await stream.nextBatch()) batches.push(batch);
  return batches;
}

t.test('batches come as the source made them, without empty ones, and the same events one by one', async (t) => {
  const batches = [[start, text('a'), text('b')], [], [text('c')], [finish]];
  t.same(await drain(source(batches).stream), [[start, text('a'), text('b')], [text('c')], [finish]], 'an empty batch is skipped, not handed on');

  const seen: StreamEvent[] = [];
  for await (const event of source(batches).stream) seen.push(event);
  t.same(seen, [start, text('a'), text('b'), text('c'), finish], 'iterated one event at a time like any async iterable');
});

t.test('any async iterable becomes batches of one; an EventStream is taken as it is', async (t) => {
  async function* events() {
    yield start;
    yield text('x');
  }
  t.same(await drain(EventStream.of(events())), [[start], [text('x')]]);
  const { stream } = source([[start]]);
  t.equal(EventStream.of(stream), stream);
});

t.test('a reader that leaves stops the source once; a finished stream is not stopped', async (t) => {
  const early = source([[start, text('a')], [text('b')], [finish]]);
  for await (const event of early.stream) if (event.type === 'text_delta') break;
  t.equal(early.state.closed, 1, 'leaving a for-await loop stops the upstream');
  await early.stream.close();
  t.equal(early.state.closed, 1, 'closing again does nothing');
  t.equal(await early.stream.nextBatch(), undefined, 'nothing more is read after closing');

  const whole = source([[start], [finish]]);
  await drain(whole.stream);
  await whole.stream.close();
  t.equal(whole.state.closed, 0, 'a stream read to its end has nothing to stop');
});

t.test('events put back are read first, before the source is asked again', async (t) => {
  const { stream, state } = source([[start, text('a')], [finish]]);
  const first = (await stream.nextBatch())!;
  stream.putBack(first);
  t.equal(state.pulls, 1);
  t.same(await drain(stream), [[start, text('a')], [finish]]);
});

t.test('beginStream fails on an error before content and hands on everything after it', async (t) => {
  const overloaded: StreamEvent = { type: 'error', error: { kind: 'overloaded', message: 'Overloaded' } };
  const failing = source([[start], [overloaded, text('never')]]);
  const err = await beginStream('up', failing.stream, { untilContent: true }).catch((e: unknown) => e);
  t.ok(isRouterError(err), 'an error after message_start is thrown to the pipeline');
  t.equal((err as { status?: number }).status, 529, 'overloaded keeps its status');
  t.equal(failing.state.closed, 1, 'and the upstream is dropped');

  // An error after the first content belongs to the client, in the stream.
  const late: StreamEvent = { type: 'error', error: { kind: 'api_error', message: 'late' } };
  const ok = source([[start, text('a'), late]]);
  const stream = await beginStream('up', ok.stream, { untilContent: true });
  t.same(await drain(stream), [[start, text('a'), late]], 'the held batch is handed on whole, nothing lost or repeated');

  const empty = source([]);
  const none = await beginStream('up', empty.stream).catch((e: unknown) => e);
  t.match(String((none as Error).message), /without any event/);
});

t.test('observe sees every event, begins on the first read and ends once however the stream ends', async (t) => {
  const watch = () => {
    const log: string[] = [];
    return { log, hooks: { begin: () => log.push('begin'), event: (e: StreamEvent) => log.push(e.type), end: () => log.push('end') } };
  };
  const read = watch();
  const watched = source([[start, text('a')], [finish]]).stream.observe(read.hooks);
  t.same(read.log, [], 'nothing happens until someone reads');
  await drain(watched);
  await watched.close();
  t.same(read.log, ['begin', 'start', 'text_delta', 'finish', 'end']);

  const left = watch();
  const leaving = source([[start], [finish]]);
  const stream = leaving.stream.observe(left.hooks);
  await stream.nextBatch();
  await stream.close();
  t.same(left.log, ['begin', 'start', 'end'], 'a reader that leaves ends it');
  t.equal(leaving.state.closed, 1, 'and stops the source');

  const failed = watch();
  const broken = new EventStream(async () => {
    throw new Error('socket hang up');
  }).observe(failed.hooks);
  await t.rejects(broken.nextBatch(), /socket hang up/);
  t.same(failed.log, ['begin', 'end'], 'a failing source ends it too');
});

t.test('readers share one position: a plugin that peeks through one iterator and hands the stream on loses nothing', async (t) => {
  const { stream } = source([[start, text('a'), text('b')], [finish]]);
  const peek = stream[Symbol.asyncIterator]();
  t.same((await peek.next()).value, start);
  const rest: StreamEvent[] = [];
  for await (const event of stream) rest.push(event);
  t.same(rest, [text('a'), text('b'), finish]);
});

t.test('reads asked for at once are answered in order, one source read at a time', async (t) => {
  let reading = 0;
  let most = 0;
  let at = 0;
  const batches = [[start, text('a')], [text('b')], [finish]];
  const stream = new EventStream(async () => {
    most = Math.max(most, ++reading);
    await new Promise((resolve) => setTimeout(resolve, 5));
    reading--;
    return at < batches.length ? batches[at++] : undefined;
  });
  const iterator = stream[Symbol.asyncIterator]();
  const steps = await Promise.all(Array.from({ length: 5 }, () => iterator.next()));
  t.same(steps.map((s) => (s.done ? 'done' : s.value.type === 'text_delta' ? s.value.text : s.value.type)), ['start', 'a', 'b', 'finish', 'done']);
  t.equal(most, 1, 'the source is never read twice at once');
  const again = await Promise.all([stream.nextBatch(), stream.nextBatch()]);
  t.same(again, [undefined, undefined]);
});

t.test('after return() nothing more comes; close() does not wait for a read stuck on the upstream', async (t) => {
  const { stream } = source([[start, text('a')], [finish]]);
  const iterator = stream[Symbol.asyncIterator]();
  await iterator.next();
  await iterator.return!();
  t.same(await iterator.next(), { value: undefined, done: true }, 'the rest of the batch is dropped with the stream');

  let release: (batch: StreamEvent[] | undefined) => void = () => {};
  let stopped = 0;
  const stuck = new EventStream(
    () => new Promise((resolve) => (release = resolve)),
    async () => {
      stopped++;
      release(undefined); // an aborted upstream ends the read in progress
    },
  );
  const pending = stuck.nextBatch();
  await stuck.close();
  t.equal(stopped, 1, 'closed at once, while the read was waiting');
  t.equal(await pending, undefined, 'and the waiting read ends');
});

t.test('a read still waiting when the reader leaves hands out nothing afterwards', async (t) => {
  let deliver: (batch: StreamEvent[] | undefined) => void = () => {};
  const stream = new EventStream(() => new Promise((resolve) => (deliver = resolve)));
  const iterator = stream[Symbol.asyncIterator]();
  const pending = iterator.next();
  await iterator.return!();
  deliver([text('a'), text('b')]); // what the source made of being stopped
  t.same(await pending, { value: undefined, done: true });
  t.same(await iterator.next(), { value: undefined, done: true });
  t.equal(await stream.nextBatch(), undefined);
});
