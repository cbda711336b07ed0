/**
 * middleware.router: decides which provider and model answer each request.
 *
 *   pipeline:
 *     - use: router
 *       with:
 *         default: deepseek/deepseek-chat
 *         background: groq/llama-3.1-8b-instant        # Claude Code's Haiku calls
 *         think: deepseek/deepseek-reasoner
 *         long_context: { target: gemini/gemini-2.5-pro, threshold: 60000 }
 *         rules:
 *           - when: { header: { x-team: research } }
 *             target: [claude/claude-sonnet-4-5, deepseek/deepseek-chat]   # then a fallback
 *
 * In order, the first that applies wins: an explicit `provider/model` (`provider,model`, as typed
 * in Claude Code's /model); a subagent tag; an alias; the rules, in order; long context (a sticky
 * conversation); long context (counted); background; web search; image; think; a model name a
 * provider declares; the default. Only what a decision needs is looked at: the model first, the
 * parsed request and a token count only when an option asks for them, and a count only when the
 * body's size (with a documented margin, estimate.ts) cannot settle it. The choice and its reason
 * are in `x-router-route` and the log line.
 */
import { channels, definePlugin, encodingFor, routerError, tokenFamilyFor, type MiddlewareInstance, type RequestBlocks, type RequestContext, type Route, type Usage } from 'router-kernel';
import { channel, type Channel } from 'node:diagnostics_channel';
import { estimateBlocks, sizeEstimate, upperBound } from './estimate.ts';
import { describeRequest, type Features } from './features.ts';
import { compilePlan, routerSchema, type Plan, type RouterOptions } from './options.ts';
import { conversationOf, SessionUsage } from './sessions.ts';
import { mayHoldTag, takeSubagentTag } from './subagent.ts';
import { routeTo } from './targets.ts';

const sessionKey = Symbol.for('router-kernel.router.session');

export default definePlugin<RouterOptions, MiddlewareInstance>({
  id: 'middleware.router',
  kind: 'middleware',
  version: '2.0.0',
  description: 'Chooses the provider and model for each request.',
  schema: routerSchema,
  create(options, scope) {
    let plan: Plan | undefined;
    let sessions: SessionUsage | undefined;
    let ended: Channel | undefined;
    // The provider's own count of the input, after the answer: what makes long context sticky.
    // Only a conversation's own answers make it sticky or end it: side calls (the client's
    // small-model calls, however routed) are never recorded for it, a subagent that names itself
    // is its own conversation (sessions.ts), and a tagged subagent that does not is left out.
    const onEnd = (message: unknown) => {
      const { ctx, usage } = message as { ctx: RequestContext; usage?: Usage };
      const conversation = ctx.state.get(sessionKey);
      if (typeof conversation !== 'string' || !usage || ctx.route?.reason === 'subagent') return;
      sessions?.record(conversation, usage);
    };

    return {
      validate(catalog) {
        plan = compilePlan(options, catalog);
      },

      async provision() {
        // validate runs after provision: compile here too so that warming knows what is needed
        // (a plan that does not compile is reported by validate, with every problem).
        try {
          plan ??= compilePlan(options, scope.catalog);
        } catch {
          return;
        }
        if (plan.longContext) {
          sessions = scope.shared('middleware.router:sessions', () => new SessionUsage(), () => {});
          ended = channel(channels.requestEnd);
          ended.subscribe(onEnd);
        }
        if (plan.countsTokens) await scope.tokens.warm();
      },

      cleanup() {
        ended?.unsubscribe(onEnd);
      },

      async handle(ctx, next) {
        const p = plan ?? (plan = compilePlan(options, ctx.catalog));
        // Even when a custom router earlier in the pipeline has chosen, the conversation is
        // recorded and subagent tags never reach the provider. Side calls have no part in it.
        const session = p.longContext && !p.sideCall(ctx.model) ? conversationOf(ctx) : undefined;
        if (session) ctx.state.set(sessionKey, session);
        const tagged = takeTag(ctx, p);
        if (!ctx.route) ctx.route = await decide(ctx, p, session, tagged);
        await next();
      },
    };

    /** The subagent tag's target, if the request carries one (the tag is removed either way). */
    function takeTag(ctx: RequestContext, p: Plan): string | undefined {
      if (!p.subagentTags || !mayHoldTag(ctx.raw.bytes)) return undefined;
      const tagged = takeSubagentTag(ctx.request);
      if (tagged !== undefined) ctx.rawStale = true; // the tag is gone from the request: a passthrough must rebuild the body
      return tagged;
    }

    async function decide(ctx: RequestContext, p: Plan, session: string | undefined, tagged: string | undefined): Promise<Route> {
      const model = ctx.model;
      const explicit = ctx.catalog.parseTarget(model);
      if (explicit) return { ...explicit, reason: 'explicit' };
      // `provider,model` is only ever typed to pick a route (Claude Code's /model): a typo in it
      // must not fall through to the default unnoticed. (`a/b` may be a vendor's model id.)
      if (/^[^,/]+,./.test(model)) {
        throw routerError('RK_PROVIDER_NOT_FOUND', { provider: model.slice(0, model.indexOf(',')), hint: ` (providers: ${ctx.catalog.providers().join(', ')})` });
      }

      // A tag is an instruction for this one request; an alias is a standing mapping of the model
      // name every request of the client carries (Claude Code's subagents inherit the main model),
      // so the tag wins. A model the client names explicitly as provider/model wins over both.
      if (tagged !== undefined) {
        const target = ctx.catalog.parseTarget(tagged);
        if (target) return { ...target, reason: 'subagent' };
        ctx.log.warn({ tag: tagged }, 'a subagent tag names no configured provider; routing as if it were not there');
      }
      const alias = p.aliases.get(model);
      if (alias) return routeTo(alias, 'alias');

      let features: Features | undefined;
      const described = () => (features ??= describeRequest(ctx.request));
      let counted: Counted | undefined;
      const tokens = async () => (counted ??= await countOrEstimate(ctx, () => described().blocks, p.countTimeout)).tokens;
      const countDetail = () => (counted === undefined ? undefined : counted.estimated ? `estimated_tokens=${counted.tokens}` : `tokens=${counted.tokens}`);

      for (const rule of p.rules) {
        if (!rule.cheap(ctx) || (rule.detailed && !rule.detailed(ctx, described))) continue;
        if (rule.tokens && !(await tokensWithin(ctx, rule.tokens, tokens))) continue;
        return routeTo(rule.target, `rule:${rule.name}`, countDetail());
      }

      if (p.longContext) {
        // A sticky conversation goes long whatever its count: nothing to count. (Side calls have
        // no conversation here.)
        const last = session === undefined ? undefined : sessions?.lastInput(session);
        if (last !== undefined && last > p.longContext.threshold) return routeTo(p.longContext.target, 'long_context', `session=sticky; last_input=${last}`);
        if (sizeEstimate(ctx.raw.bytes) > p.longContext.threshold) {
          const n = await tokens();
          if (n > p.longContext.threshold) return routeTo(p.longContext.target, 'long_context', countDetail());
        }
      }
      // A long conversation's small side calls still go to the background model.
      if (p.background?.models(model)) return routeTo(p.background.target, 'background');

      if (p.webSearch && described().webSearch) return routeTo(p.webSearch, 'web_search');
      if (p.image && described().imageInLastUserTurn) return routeTo(p.image, 'image');
      if (p.think?.applies(ctx.request.thinking)) return routeTo(p.think.target, 'think');
      const declared = ctx.catalog.findModel(model)[0];
      if (declared) return { ...declared, reason: 'model' };
      return routeTo(p.default, 'default');
    }

    /**
     * The request's tokens as its model's family bills them (what thresholds are written in):
     * from the body's bytes while they are still the request (no tag was removed), which parses
     * only messages not seen before, else from the parsed request's blocks. A count that fails (a
     * crashed worker, past `count_timeout`) is not the request's fault: the decision goes on with
     * an estimate, and says so. A client that went away is not routed at all.
     */
    async function countOrEstimate(ctx: RequestContext, blocks: () => RequestBlocks, deadline: number): Promise<Counted> {
      const options = { family: tokenFamilyFor(ctx.model, ctx.dialect).name, encoding: encodingFor(ctx.model), signal: ctx.signal, deadline };
      try {
        const fromBody = ctx.rawStale ? undefined : await scope.tokens.countBody(ctx.raw, { ...options, dialect: ctx.dialect });
        const count = fromBody ?? (await scope.tokens.countBlocks(blocks(), options));
        return { tokens: count.tokens, estimated: false };
      } catch (err) {
        if (ctx.signal.aborted || (err as { code?: unknown }).code !== 'RK_TOKEN_COUNT_FAILED') throw err;
        const tokens = estimateBlocks(blocks());
        ctx.log.warn({ err, estimate: tokens }, 'token counting failed; routing on an estimate');
        return { tokens, estimated: true };
      }
    }
  },
});

interface Counted {
  tokens: number;
  /** The count failed and this is `estimateBlocks`' figure. */
  estimated: boolean;
}

/**
 * Whether the request's tokens are within the range, counting only when the body's size cannot
 * tell: at most `sizeEstimate` tokens is taken as not above (the documented margin), and at most
 * the strict `upperBound` as below.
 */
async function tokensWithin(ctx: RequestContext, range: { above?: number; below?: number }, count: () => Promise<number>): Promise<boolean> {
  if (range.above !== undefined && sizeEstimate(ctx.raw.bytes) <= range.above) return false;
  if (range.above === undefined && range.below !== undefined && upperBound(ctx.raw.bytes) < range.below) return true;
  const n = await count();
  return (range.above === undefined || n > range.above) && (range.below === undefined || n < range.below);
}
