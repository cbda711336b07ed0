/**
 * `${VAR}` and `${VAR:-default}` in YAML string values, filled from the environment after parsing
 * (so every error still points at the right line). `$${VAR}` is a literal `${VAR}`.
 */
import { isScalar, visit, type Document } from 'yaml';

export interface MissingVariable {
  name: string;
  path: Array<string | number>;
}

const pattern = /\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}/g;

/** Substitutes in place and returns the variables that were neither set nor given a default. */
export function substituteEnv(doc: Document, env: Record<string, string | undefined>): MissingVariable[] {
  const missing: MissingVariable[] = [];
  visit(doc, {
    Scalar(key, node, path) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('${')) return;
      node.value = node.value.replace(pattern, (whole, escaped: string, name: string, fallback: string | undefined) => {
        if (escaped) return whole.slice(1);
        const value = env[name];
        if (value !== undefined && value !== '') return value;
        if (fallback !== undefined) return fallback;
        missing.push({ name, path: yamlPath(path, node) });
        return '';
      });
    },
  });
  return missing;
}

/** The user-facing path of a node, from the ancestry `visit` hands over. */
function yamlPath(ancestry: readonly unknown[], node: unknown): Array<string | number> {
  const out: Array<string | number> = [];
  const chain = [...ancestry, node];
  for (let i = 1; i < chain.length; i++) {
    const parent = chain[i - 1] as { items?: unknown[]; key?: unknown; value?: unknown };
    const child = chain[i];
    if (Array.isArray(parent.items)) {
      const index = parent.items.indexOf(child);
      // Pairs are walked through separately; only sequences contribute an index.
      if (index !== -1 && !(isPairLike(child))) out.push(index);
    } else if (isPairLike(parent) && parent.value === child && isScalar(parent.key)) {
      out.push(String(parent.key.value));
    }
  }
  return out;
}

function isPairLike(value: unknown): value is { key: unknown; value: unknown } {
  return typeof value === 'object' && value !== null && 'key' in value && 'value' in value && !('items' in value);
}
