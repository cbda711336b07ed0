/**
 * Recorded provider responses (copied from ../shared/fixtures, provenance in
 * test/fixtures/providers/SOURCES.md) and the replies a mock upstream serves from them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { UpstreamReply } from './mock-upstream.ts';

export const fixturesDir = fileURLToPath(new URL('../fixtures/', import.meta.url));

export function fixtureText(path: string): string {
  return readFileSync(fixturesDir + path, 'utf8');
}

export function fixtureJson<T = Record<string, any>>(path: string): T {
  return JSON.parse(fixtureText(path)) as T;
}

/** Body, status and content-type of a recorded response, as the provider served it. */
export function fixtureReply(path: string, overrides: Partial<UpstreamReply> = {}): UpstreamReply {
  const body = fixtureText(path);
  const metaPath = fixturesDir + path.replace(/\.(sse|json|ndjson)$/, '.meta.json');
  const meta = existsSync(metaPath) ? (JSON.parse(readFileSync(metaPath, 'utf8')) as { response?: { status?: number; headers?: Record<string, string> } }) : undefined;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(meta?.response?.headers ?? {})) {
    if (!/^(connection|keep-alive|transfer-encoding|content-length|content-encoding)$/i.test(name)) headers[name.toLowerCase()] = value;
  }
  if (!headers['content-type']) {
    headers['content-type'] = path.endsWith('.sse') ? 'text/event-stream' : path.endsWith('.ndjson') ? 'application/x-ndjson' : 'application/json';
  }
  return { status: meta?.response?.status ?? 200, headers, body, ...overrides };
}

/** A Claude Code request body as recorded (see test/fixtures/clients/README.md). */
export function claudeCodeRequest(name: string): { url: string; headers: Record<string, string>; body: Record<string, any> } {
  return fixtureJson(`clients/claude-code/${name}.json`);
}
