/**
 * Small shape checks for client request bodies. A malformed body gets a 400 whose message names
 * the exact field (`messages[2].content[0].text: must be a string`), in the client's dialect.
 */
import { routerError } from '../errors.ts';

export type Json = Record<string, unknown>;

export function invalid(path: string, message: string): never {
  throw routerError('RK_BAD_REQUEST', { reason: `${path}: ${message}` });
}

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function object(value: unknown, path: string): Json {
  if (!isObject(value)) invalid(path, 'must be an object');
  return value;
}

export function array(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) invalid(path, 'must be an array');
  return value;
}

export function string(value: unknown, path: string): string {
  if (typeof value !== 'string') invalid(path, 'must be a string');
  return value;
}

export function optionalString(value: unknown, path: string): string | undefined {
  return value === undefined || value === null ? undefined : string(value, path);
}

export function optionalNumber(value: unknown, path: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) invalid(path, 'must be a number');
  return value;
}

export function optionalBoolean(value: unknown, path: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') invalid(path, 'must be true or false');
  return value;
}

/** Copies the fields of `body` not in `known`: the request's extras. */
export function extrasOf(body: Json, known: ReadonlySet<string>): Json {
  const extras: Json = {};
  for (const key in body) if (!known.has(key)) extras[key] = body[key];
  return extras;
}

/** Parses a data: URL (`data:image/png;base64,....`) into its media type and base64 payload. */
export function parseDataUrl(url: string): { mediaType: string; data: string } | undefined {
  const match = /^data:([^;,]+)(?:;[^,]*)?;base64,(.*)$/s.exec(url);
  return match ? { mediaType: match[1], data: match[2] } : undefined;
}
