/**
 * Ordered routing rules: every condition in `when` must hold; the first rule that matches names
 * the route. Conditions on the model, headers, path, dialect and metadata are read without parsing
 * the body; thinking and tools need the parsed request; token ranges need a count, which the body's
 * size often makes unnecessary. Token ranges are in the client model's family's terms (the Claude
 * estimate for Claude models, OpenAI's exact count for GPT models), like `long_context`'s threshold.
 */
import type { RequestContext } from 'router-kernel';
import type { Features } from './features.ts';
import { anyOf, matcher, type Matcher } from './match.ts';
import { targetSchema, type TargetSpec } from './targets.ts';

export interface RuleSpec {
  name?: string;
  when: RuleWhen;
  target: TargetSpec;
}

export type ThinkingType = 'enabled' | 'adaptive';

export interface RuleWhen {
  model?: string | string[];
  dialect?: 'anthropic' | 'openai';
  path?: string;
  header?: Record<string, string>;
  metadata?: Record<string, string>;
  thinking?: boolean | ThinkingType | ThinkingType[];
  effort?: string | string[];
  tools?: boolean;
  tool?: string | string[];
  tokens?: { above?: number; below?: number };
}

export const ruleSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['when', 'target'],
  properties: {
    name: { type: 'string', description: 'shown in x-router-route as reason=rule:<name> (default: its position)' },
    when: {
      type: 'object',
      additionalProperties: false,
      properties: {
        model: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }], description: "the client's model: glob (`*haiku*`) or /regex/" },
        dialect: { enum: ['anthropic', 'openai'] },
        path: { type: 'string', description: 'request path, glob or /regex/' },
        header: { type: 'object', additionalProperties: { type: 'string' }, description: 'header name → glob or /regex/' },
        metadata: { type: 'object', additionalProperties: { type: 'string' }, description: 'body `metadata` field → glob or /regex/' },
        thinking: {
          oneOf: [{ type: 'boolean' }, { enum: ['enabled', 'adaptive'] }, { type: 'array', minItems: 1, items: { enum: ['enabled', 'adaptive'] } }],
          description: 'true: thinking requested in any way and not disabled (Claude Code asks for adaptive thinking on every request); enabled / adaptive, or a list: only those types',
        },
        effort: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }], description: 'output_config.effort / reasoning_effort values' },
        tools: { type: 'boolean', description: 'any tools offered' },
        tool: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }], description: 'a tool with one of these names (globs) is offered' },
        tokens: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: { above: { type: 'integer', minimum: 0 }, below: { type: 'integer', minimum: 1 } },
          description: "input tokens, as the client model's family counts them (Claude models: the Claude estimate), above and/or below these numbers",
        },
      },
    },
    target: targetSchema,
  },
};

export interface Rule {
  name: string;
  spec: RuleSpec;
  /** Conditions that read no body beyond the model. */
  cheap(ctx: RequestContext): boolean;
  needsRequest: boolean;
  detailed?(ctx: RequestContext, features: () => Features): boolean;
  tokens?: { above?: number; below?: number };
}

export function compileRule(spec: RuleSpec, index: number): Rule {
  const w = spec.when;
  const checks: Array<(ctx: RequestContext) => boolean> = [];
  if (w.model !== undefined) {
    const m = anyOf(w.model);
    checks.push((ctx) => m(ctx.model));
  }
  if (w.dialect !== undefined) checks.push((ctx) => ctx.dialect === w.dialect);
  if (w.path !== undefined) {
    const m = matcher(w.path);
    checks.push((ctx) => m(ctx.raw.path));
  }
  for (const [name, pattern] of Object.entries(w.header ?? {})) {
    const m = matcher(pattern);
    const key = name.toLowerCase();
    checks.push((ctx) => {
      const value = ctx.raw.headers[key];
      return value !== undefined && m(Array.isArray(value) ? value.join(', ') : value);
    });
  }
  for (const [name, pattern] of Object.entries(w.metadata ?? {})) {
    const m: Matcher = matcher(pattern);
    checks.push((ctx) => {
      const metadata = ctx.raw.field('metadata');
      const value = metadata && typeof metadata === 'object' ? (metadata as Record<string, unknown>)[name] : undefined;
      return value !== undefined && value !== null && m(typeof value === 'string' ? value : JSON.stringify(value));
    });
  }
  const deep: Array<(ctx: RequestContext, features: () => Features) => boolean> = [];
  if (typeof w.thinking === 'boolean') deep.push((ctx) => thinkingRequested(ctx) === w.thinking);
  else if (w.thinking !== undefined) {
    const types: string[] = Array.isArray(w.thinking) ? w.thinking : [w.thinking];
    deep.push((ctx) => {
      const type = ctx.request.thinking?.type;
      return type !== undefined && types.includes(type);
    });
  }
  if (w.effort !== undefined) {
    const m = anyOf(w.effort);
    deep.push((ctx) => {
      const effort = ctx.request.thinking?.effort;
      return effort !== undefined && m(effort);
    });
  }
  if (w.tools !== undefined) deep.push((ctx) => ctx.request.tools.length > 0 === w.tools);
  if (w.tool !== undefined) {
    const m = anyOf(w.tool);
    deep.push((_ctx, features) => features().toolNames.some(m));
  }
  return {
    name: spec.name ?? String(index),
    spec,
    cheap: (ctx) => checks.every((check) => check(ctx)),
    needsRequest: deep.length > 0,
    ...(deep.length > 0 ? { detailed: (ctx: RequestContext, features: () => Features) => deep.every((check) => check(ctx, features)) } : {}),
    ...(w.tokens ? { tokens: w.tokens } : {}),
  };
}

export function thinkingRequested(ctx: RequestContext): boolean {
  const thinking = ctx.request.thinking;
  return thinking !== undefined && thinking.type !== 'disabled';
}
