/**
 * Durations and sizes as YAML users write them. Schemas declare them with
 * `{ type: ['integer', 'string'], format: 'duration' }` (or `'bytes'`), and plugins read them with
 * `parseDuration` / `parseBytes`. Bare numbers are milliseconds and bytes.
 *
 *   parseDuration('1m30s') === 90_000;  parseBytes('32mb') === 33_554_432
 */

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const durationPattern = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;

export function isDuration(value: string): boolean {
  return durationPattern.test(value.trim()) || /^\d+$/.test(value.trim());
}

export function parseDuration(value: number | string): number {
  if (typeof value === 'number') return value;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  if (!durationPattern.test(text)) throw new RangeError(`"${value}" is not a duration (examples: 500ms, 30s, 10m, 1h30m)`);
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) total += Number(amount) * durationUnits[unit];
  return Math.round(total);
}

const byteUnits: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };
const bytesPattern = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i;

export function isBytes(value: string): boolean {
  return bytesPattern.test(value.trim());
}

/** Sizes are binary: `1kb` is 1024 bytes, `32mb` is 32 MiB. */
export function parseBytes(value: number | string): number {
  if (typeof value === 'number') return value;
  const match = bytesPattern.exec(value.trim());
  if (!match) throw new RangeError(`"${value}" is not a size (examples: 512kb, 32mb)`);
  return Math.round(Number(match[1]) * byteUnits[(match[2] ?? 'b').toLowerCase()]);
}
