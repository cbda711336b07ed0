/**
 * The connection options every HTTP provider shares, as one schema fragment and one function that
 * turns them into an upstream client, so each provider plugin declares them the same way:
 *
 *   schema: { type: 'object', properties: { base_url: {...}, ...connectionOptionsSchema } }
 *   provision() { http = upstreamFromOptions(scope, options.base_url, options, keys); }
 */
import { resolve } from 'node:path';
import type { PluginScope } from '../contract.ts';
import { parseDuration } from '../config/units.ts';
import { upstreamClient, type UpstreamClient } from './http-client.ts';

const duration = { type: ['integer', 'string'], format: 'duration' };

export interface ConnectionOptions {
  headers: Record<string, string>;
  connections: number;
  timeouts: { connect: number | string; headers: number | string; body: number | string };
  http2: boolean;
  dns_cache: boolean;
  proxy?: string | false;
  tls: { ca_file?: string; insecure: boolean };
}

export const connectionOptionsSchema = {
  headers: { type: 'object', additionalProperties: { type: 'string' }, default: {} },
  connections: { type: 'integer', minimum: 1, default: 64 },
  timeouts: {
    type: 'object',
    additionalProperties: false,
    default: {},
    properties: {
      connect: { ...duration, default: '10s' },
      headers: { ...duration, default: '10m' },
      body: { ...duration, default: '5m' },
    },
  },
  http2: { type: 'boolean', default: false },
  dns_cache: { type: 'boolean', default: true },
  // Typed as boolean-or-string rather than anyOf, so ajv's type coercion cannot turn false into "false".
  proxy: {
    type: ['boolean', 'string'],
    pattern: '^https?://',
    not: { const: true },
    errorMessage: 'must be a proxy URL (http://host:port) or false; leave it out to follow HTTPS_PROXY / HTTP_PROXY / NO_PROXY',
  },
  tls: {
    type: 'object',
    additionalProperties: false,
    default: {},
    properties: { ca_file: { type: 'string', minLength: 1 }, insecure: { type: 'boolean', default: false } },
  },
} as const;

export function upstreamFromOptions(scope: PluginScope, baseUrl: string, options: ConnectionOptions, secrets: readonly string[]): UpstreamClient {
  return upstreamClient(scope, {
    baseUrl,
    connections: options.connections,
    connectTimeout: parseDuration(options.timeouts.connect),
    headersTimeout: parseDuration(options.timeouts.headers),
    bodyTimeout: parseDuration(options.timeouts.body),
    http2: options.http2,
    dnsCache: options.dns_cache,
    proxy: options.proxy ?? 'env',
    ...(options.tls.ca_file ? { caFile: resolve(scope.configDir, options.tls.ca_file) } : {}),
    insecure: options.tls.insecure,
    secrets,
  });
}

/**
 * A provider's API keys: one `api_key`, or `keys`, a pool (spread and limited by the scheduler
 * plugin), each a string or an object with its limits.
 */
export const keyOptionsSchema = {
  api_key: { type: 'string', description: 'the API key (use ${ENV_VAR})' },
  keys: {
    type: 'array',
    minItems: 1,
    description: 'a key pool: strings, or { key, name, rpm, tpm, concurrency, weight }',
    items: {
      oneOf: [
        { type: 'string', minLength: 1 },
        {
          type: 'object',
          additionalProperties: false,
          required: ['key'],
          properties: {
            key: { type: 'string', minLength: 1 },
            name: { type: 'string' },
            rpm: { type: 'integer', minimum: 1 },
            tpm: { type: 'integer', minimum: 1 },
            concurrency: { type: 'integer', minimum: 1 },
            weight: { type: 'number', exclusiveMinimum: 0 },
          },
        },
      ],
    },
  },
};

export type KeyOption = string | { key: string; name?: string; rpm?: number; tpm?: number; concurrency?: number; weight?: number };

/** The key strings of `api_key` / `keys`, in order (for the first-key default and for scrubbing). */
export function keyStrings(options: { api_key?: string; keys?: KeyOption[] }): string[] {
  const listed = options.keys ?? (options.api_key ? [options.api_key] : []);
  return listed.map((entry) => (typeof entry === 'string' ? entry : entry.key)).filter((key) => key !== '');
}
