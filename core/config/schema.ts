/**
 * The top-level shape of router.yaml. Plugin options (`pipeline[].with`, and the provider fields
 * other than `use` and `models`) are checked against each plugin's own schema afterwards.
 * `docs/configuration.md` documents every field here.
 */
import type { JsonSchema } from '../contract.ts';

const duration = { type: ['integer', 'string'], format: 'duration', minimum: 0 };
const bytes = { type: ['integer', 'string'], format: 'bytes', minimum: 0 };

/** `log.level`'s values. */
export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const routerConfigSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['providers'],
  properties: {
    server: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: { type: 'string', minLength: 1, default: '127.0.0.1' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 3456 },
        body_limit: { ...bytes, default: '32mb' },
        drain_timeout: { ...duration, default: '5m' },
        keep_alive_timeout: { ...duration, default: '65s' },
        idle_collect: { ...duration, default: '10s' },
        reuse_body_memory: { type: 'boolean', default: true },
        auth: {
          type: 'object',
          additionalProperties: false,
          properties: { keys: { type: 'array', items: { type: 'string', minLength: 1 } } },
        },
        admin_key: { type: 'string', minLength: 1 },
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        level: { enum: [...logLevels], default: 'info' },
        format: { enum: ['auto', 'json', 'pretty'], default: 'auto' },
        bodies: { type: 'boolean', default: false },
      },
    },
    watch: { type: 'boolean', default: true },
    providers: {
      type: 'object',
      minProperties: 1,
      propertyNames: { pattern: '^[A-Za-z0-9_.-]+$' },
      additionalProperties: {
        type: 'object',
        required: ['use'],
        properties: {
          use: { type: 'string', minLength: 1 },
          models: {
            type: 'array',
            items: {
              oneOf: [
                { type: 'string', minLength: 1 },
                {
                  type: 'object',
                  additionalProperties: false,
                  required: ['name'],
                  properties: {
                    name: { type: 'string', minLength: 1 },
                    upstream: { type: 'string', minLength: 1 },
                    max_output_tokens: { type: 'integer', minimum: 1 },
                    thinking: { type: 'boolean' },
                  },
                },
              ],
            },
            default: [],
          },
        },
      },
    },
    pipeline: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['use'],
        properties: {
          use: { type: 'string', minLength: 1 },
          name: { type: 'string', minLength: 1 },
          enabled: { type: 'boolean', default: true },
          with: { type: 'object', default: {} },
        },
      },
    },
  },
};

export interface ModelConfig {
  name: string;
  upstream?: string;
  max_output_tokens?: number;
  thinking?: boolean;
}

export interface ProviderEntry {
  use: string;
  models: Array<string | ModelConfig>;
  [option: string]: unknown;
}

export interface PipelineEntry {
  use: string;
  name?: string;
  enabled: boolean;
  with: Record<string, unknown>;
}

export interface RouterConfig {
  server: {
    host: string;
    port: number;
    body_limit: number | string;
    drain_timeout: number | string;
    keep_alive_timeout: number | string;
    idle_collect: number | string;
    reuse_body_memory: boolean;
    auth?: { keys?: string[] };
    admin_key?: string;
  };
  log: { level: string; format: 'auto' | 'json' | 'pretty'; bodies: boolean };
  watch: boolean;
  providers: Record<string, ProviderEntry>;
  pipeline: PipelineEntry[];
}
