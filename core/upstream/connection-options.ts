/**
 * The connection options every HTTP provider shares, as one schema fragment and one function that
 * turns them into an upstream client, so each provider plugin declares them the same way:
 *
 *   schema: { type: 'object', properties: { base_url: {...}, ...connectionOptionsSchema } }
 *   provision() { http = upstreamFromOptions(scope, options.base_url, options, keys); }
 */
import type { PluginScope } from '../contract.ts';
import { parseDuration } from '../config/units.ts';
import { upstreamClient, type UpstreamClient } from './http-client.ts';

const duration = { type: ['integer', 'string'], format: 'duration' };

export interface ConnectionOptions {
  headers: Record<string, string>;
  connections: number;
  timeouts: { connect: number | string; headers: number | string; body: number | string };
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
} as const;

export function upstreamFromOptions(scope: PluginScope, baseUrl: string, options: ConnectionOptions, secrets: readonly string[]): UpstreamClient {
  return upstreamClient(scope, {
    baseUrl,
    connections: options.connections,
    connectTimeout: parseDuration(options.timeouts.connect),
    headersTimeout: parseDuration(options.timeouts.headers),
    bodyTimeout: parseDuration(options.timeouts.body),
    secrets,
  });
}
