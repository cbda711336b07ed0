/**
 * Reading a key's headroom from the rate-limit headers providers really send (recorded responses
 * in test/fixtures/providers/*.meta.json).
 */
import t from 'tap';
import { headroomOf } from '../../../plugins/schedulers/scheduler/rate-limit-headers.ts';
import { fixtureJson } from '../../helpers/fixtures.ts';

const headersOf = (path: string) => fixtureJson<{ response: { headers: Record<string, string> } }>(path).response.headers;
const now = Date.parse('2025-11-04T22:50:50Z');

t.test("OpenAI's x-ratelimit-* headers: remaining counts and durations until reset", async (t) => {
  const headroom = headroomOf(headersOf('providers/openai/chat-completion-ratelimit-headers.meta.json'), now);
  t.same(headroom, { remainingRequests: 29999, requestsLimit: 30000, remainingTokens: 149999990, tokensLimit: 150000000, requestsResetAt: now + 2, tokensResetAt: now });
});

t.test("Anthropic's anthropic-ratelimit-* headers: the tightest remaining allowance and its limit, reset times, retry-after", async (t) => {
  const headroom = headroomOf(headersOf('providers/anthropic/message-text-ratelimit-headers.meta.json'), now);
  t.same(headroom, {
    remainingRequests: 3999,
    requestsLimit: 4000,
    remainingTokens: 400000,
    tokensLimit: 400000,
    requestsResetAt: Date.parse('2025-11-04T22:50:54Z'),
    tokensResetAt: Date.parse('2025-11-04T22:50:55Z'),
    retryAt: now + 5000,
  });
});

t.test('durations in every form OpenAI uses, HTTP dates, and redacted or missing values', async (t) => {
  t.equal(headroomOf({ 'x-ratelimit-reset-requests': '6m0s' }, 0).requestsResetAt, 360_000);
  t.equal(headroomOf({ 'x-ratelimit-reset-tokens': '1h2m3.5s' }, 0).tokensResetAt, 3_723_500);
  t.equal(headroomOf({ 'x-ratelimit-reset-requests': '20ms' }, 0).requestsResetAt, 20);
  t.equal(headroomOf({ 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT' }, 0).retryAt, Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'));
  t.same(headroomOf({ 'anthropic-ratelimit-tokens-remaining': 'ANTHROPIC-RATELIMIT-TOKENS-REMAINING-XXX', 'x-ratelimit-reset-tokens': 'soon' }, 0), {}, 'unreadable values are ignored');
});
