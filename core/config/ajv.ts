/**
 * One ajv instance for the top-level schema and every plugin's options schema. Options are
 * validated in place: defaults are filled in and scalars coerced (`port: ${PORT}` arrives as a
 * string), so plugins receive complete, typed options.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { JsonSchema } from '../contract.ts';
import { isBytes, isDuration } from './units.ts';

const ajv = new Ajv({ allErrors: true, useDefaults: true, coerceTypes: true, strict: false, verbose: true });
ajv.addFormat('duration', { type: 'string', validate: isDuration });
ajv.addFormat('bytes', { type: 'string', validate: isBytes });

const compiled = new WeakMap<JsonSchema, ValidateFunction>();

export function compileSchema(schema: JsonSchema): ValidateFunction {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  return validate;
}

export interface SchemaProblem {
  /** Path below the validated value, as segments. */
  path: Array<string | number>;
  message: string;
}

/** Turns ajv's errors into one plain sentence per problem, located at the offending key. */
export function describeErrors(errors: ErrorObject[] | null | undefined): SchemaProblem[] {
  const seen = new Set<string>();
  const out: SchemaProblem[] = [];
  const list = errors ?? [];
  // A failed oneOf/anyOf also reports every branch's failure; keep only the summary.
  const branchPaths = new Set(list.filter((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf').map((e) => e.schemaPath));
  for (const error of list) {
    if ([...branchPaths].some((p) => error.schemaPath !== p && error.schemaPath.startsWith(p + '/'))) continue;
    const path = pointerToPath(error.instancePath);
    let message: string;
    switch (error.keyword) {
      case 'required':
        path.push(String(error.params.missingProperty));
        message = 'is required';
        break;
      case 'additionalProperties': {
        const name = String(error.params.additionalProperty);
        path.push(name);
        const known = Object.keys((error.parentSchema?.properties as object | undefined) ?? {});
        const guess = closest(name, known);
        message = `is not a known field${guess ? ` (did you mean "${guess}"?)` : known.length ? ` (known: ${known.join(', ')})` : ''}`;
        break;
      }
      case 'type':
        message = `must be ${article(String(error.params.type).replace(',', ' or '))}`;
        break;
      case 'enum':
        message = `must be one of: ${(error.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
        break;
      case 'format':
        message =
          error.params.format === 'duration' ? 'must be a duration like "500ms", "30s", "10m", or a number of milliseconds'
          : error.params.format === 'bytes' ? 'must be a size like "512kb", "32mb", or a number of bytes'
          : `must be a valid ${error.params.format}`;
        break;
      case 'oneOf':
      case 'anyOf':
        message = 'does not match any of the accepted forms';
        break;
      default:
        message = error.message ?? 'is invalid';
    }
    // A schema may say in words what its pattern or range means (`errorMessage: 'must be "provider/model"'`).
    const custom = (error.parentSchema as { errorMessage?: unknown } | undefined)?.errorMessage;
    if (typeof custom === 'string' && error.keyword !== 'required' && error.keyword !== 'additionalProperties') message = custom;
    const key = JSON.stringify(path) + message;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ path, message });
  }
  return out;
}

function pointerToPath(pointer: string): Array<string | number> {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function article(type: string): string {
  if (type === 'integer' || type === 'array' || type === 'object') return `an ${type}`;
  return `a ${type}`;
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const d = distance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}
