/**
 * The router's options: their schema and the plan compiled from them once the providers are known.
 */
import { parseDuration, type ProviderCatalog, type ThinkingConfig } from 'router-kernel';
import { anyOf, type Matcher } from './match.ts';
import { compileRule, ruleSchema, type Rule, type RuleSpec } from './rules.ts';
import { resolveTarget, targetSchema, type Target, type TargetSpec } from './targets.ts';

export interface RouterOptions {
  default: TargetSpec;
  aliases?: Record<string, TargetSpec>;
  background?: TargetSpec | { target: TargetSpec; models?: string[] };
  think?: TargetSpec | { target: TargetSpec; thinking?: Array<'enabled' | 'adaptive'>; effort?: string[]; min_budget?: number };
  long_context?: TargetSpec | { target: TargetSpec; threshold?: number };
  web_search?: TargetSpec;
  image?: TargetSpec;
  subagent_tags?: boolean;
  rules?: RuleSpec[];
  count_timeout?: number | string;
}

/** Claude Code's background calls (titles, summaries, quick checks) go to a Haiku-class model. */
export const defaultBackgroundModels = ['*haiku*'];
/**
 * In the client model's token family (core/tokens/families.ts), the one the kernel counts a request
 * in: for a Claude model the Claude estimate (o200k × 1.05 plus framing and the tool-use prompt),
 * for a GPT model OpenAI's exact count, for others o200k plus framing. Not raw o200k.
 */
export const defaultLongContextThreshold = 60_000;

function scenario(description: string, extra: Record<string, unknown>) {
  return {
    description,
    oneOf: [targetSchema, { type: 'object', additionalProperties: false, required: ['target'], properties: { target: targetSchema, ...extra } }],
  };
}

export const routerSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['default'],
  properties: {
    default: { ...targetSchema, description: 'provider/model used when nothing more specific applies' },
    aliases: { type: 'object', additionalProperties: targetSchema, description: 'client model name → target' },
    background: scenario("the client's small/fast model calls", { models: { type: 'array', items: { type: 'string' }, description: 'client model globs or /regex/ (default ["*haiku*"])' } }),
    think: scenario('thinking or reasoning requested', {
      thinking: { type: 'array', items: { enum: ['enabled', 'adaptive'] }, description: 'thinking types that count (default ["enabled"]: Claude Code sends "adaptive" on ordinary requests)' },
      effort: { type: 'array', items: { type: 'string' }, description: 'effort levels that count whatever the type (output_config.effort, reasoning_effort), e.g. [max]; not high: Claude Code sends effort high on ordinary requests' },
      min_budget: { type: 'integer', minimum: 1, description: 'least budget_tokens that counts (default 1)' },
    }),
    long_context: scenario('prompts above a token threshold', {
      threshold: { type: 'integer', minimum: 1, description: `input tokens as the client model's family counts them (Claude models: the Claude estimate, o200k x 1.05 plus framing), default ${defaultLongContextThreshold}` },
    }),
    web_search: { ...targetSchema, description: 'requests offering a provider-run web search tool' },
    image: { ...targetSchema, description: 'requests whose latest user turn has an image' },
    subagent_tags: { type: 'boolean', default: true, description: 'honour <router-model>provider/model</router-model> tags' },
    rules: { type: 'array', items: ruleSchema, description: 'ordered rules; the first match wins' },
    count_timeout: { type: ['integer', 'string'], format: 'duration', default: '5s', description: 'how long a token count may take before routing goes on with an estimate' },
  },
};

export interface Plan {
  default: Target;
  aliases: Map<string, Target>;
  background?: { target: Target; models: Matcher };
  /**
   * The client's small/fast model calls (the background scenario's models, or the default
   * `*haiku*` without one): side calls that share a session but not its conversation.
   */
  sideCall: Matcher;
  think?: { target: Target; applies(thinking: ThinkingConfig | undefined): boolean };
  longContext?: { target: Target; threshold: number };
  webSearch?: Target;
  image?: Target;
  subagentTags: boolean;
  rules: Array<Rule & { target: Target }>;
  /** Whether any decision may need a token count (then the tokenizer is warmed at start). */
  countsTokens: boolean;
  /** Milliseconds a count may take before the decision goes on with an estimate. */
  countTimeout: number;
}

function split(spec: TargetSpec | { target: TargetSpec } | undefined): { target: TargetSpec; rest: Record<string, unknown> } | undefined {
  if (spec === undefined) return undefined;
  if (typeof spec === 'string' || Array.isArray(spec)) return { target: spec, rest: {} };
  const { target, ...rest } = spec;
  return { target, rest };
}

/** Compiles the options against the providers; collects every problem into one error. */
export function compilePlan(options: RouterOptions, catalog: ProviderCatalog): Plan {
  const problems: string[] = [];
  const resolve = (spec: TargetSpec, where: string): Target => {
    try {
      return resolveTarget(spec, where, catalog);
    } catch (err) {
      problems.push((err as Error).message);
      return { provider: '', model: '', fallbacks: [] };
    }
  };
  const guard = <T>(where: string, build: () => T, fallback: T): T => {
    try {
      return build();
    } catch (err) {
      problems.push(`${where}: ${(err as Error).message}`);
      return fallback;
    }
  };
  const never = () => false;
  const plan: Plan = { default: resolve(options.default, 'default'), aliases: new Map(), sideCall: anyOf(defaultBackgroundModels), subagentTags: options.subagent_tags !== false, rules: [], countsTokens: false, countTimeout: parseDuration(options.count_timeout ?? '5s') };
  for (const [name, spec] of Object.entries(options.aliases ?? {})) plan.aliases.set(name, resolve(spec, `aliases.${name}`));

  const background = split(options.background);
  if (background) {
    plan.background = { target: resolve(background.target, 'background'), models: guard('background.models', () => anyOf((background.rest.models as string[] | undefined) ?? defaultBackgroundModels), never) };
    plan.sideCall = plan.background.models;
  }

  const think = split(options.think);
  if (think) {
    const types = (think.rest.thinking as string[] | undefined) ?? ['enabled'];
    const efforts = think.rest.effort ? guard('think.effort', () => anyOf(think.rest.effort as string[]), never) : undefined;
    const minBudget = (think.rest.min_budget as number | undefined) ?? 1;
    plan.think = {
      target: resolve(think.target, 'think'),
      applies(thinking) {
        if (!thinking || thinking.type === 'disabled') return false;
        if (efforts && thinking.effort !== undefined && efforts(thinking.effort)) return true;
        return types.includes(thinking.type) && (thinking.budgetTokens === undefined || thinking.budgetTokens >= minBudget);
      },
    };
  }

  const longContext = split(options.long_context);
  if (longContext) plan.longContext = { target: resolve(longContext.target, 'long_context'), threshold: (longContext.rest.threshold as number | undefined) ?? defaultLongContextThreshold };
  if (options.web_search) plan.webSearch = resolve(options.web_search, 'web_search');
  if (options.image) plan.image = resolve(options.image, 'image');
  (options.rules ?? []).forEach((spec, i) => {
    const rule = guard(`rules[${i}].when`, () => compileRule(spec, i), undefined);
    if (rule) plan.rules.push({ ...rule, target: resolve(spec.target as TargetSpec, `rules[${i}].target`) });
  });
  plan.countsTokens = plan.longContext !== undefined || plan.rules.some((rule) => rule.tokens !== undefined);
  if (problems.length > 0) throw new Error(problems.join('; '));
  return plan;
}
