/**
 * A rejected configuration: every problem found, each with the file, line, column and the YAML
 * path it concerns, printed the way compilers print errors so editors can jump to them:
 *
 *   router.yaml:14:7 pipeline[2].with.ttl: must be a duration like "30s", "10m" or milliseconds
 */

export interface ConfigIssue {
  file: string;
  line?: number;
  column?: number;
  /** YAML path as users read it: `pipeline[2].with.ttl`; empty for the whole document. */
  path: string;
  message: string;
}

const kBrand = Symbol.for('router-kernel.config-error');

export class ConfigError extends Error {
  readonly code = 'RK_CONFIG_INVALID';
  readonly issues: ConfigIssue[];
  declare readonly [kBrand]: true;

  constructor(issues: ConfigIssue[]) {
    // In file order, as a compiler would list them.
    const sorted = [...issues].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
    super(sorted.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
    this.issues = sorted;
    Object.defineProperty(this, kBrand, { value: true });
  }
}

export function isConfigError(value: unknown): value is ConfigError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kBrand] === true;
}

export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line === undefined ? issue.file : `${issue.file}:${issue.line}:${issue.column ?? 1}`;
  return issue.path ? `${where} ${issue.path}: ${issue.message}` : `${where} ${issue.message}`;
}

/** `['pipeline', 2, 'with', 'ttl']` → `pipeline[2].with.ttl` */
export function formatPath(path: ReadonlyArray<string | number>): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(key)}]`;
  }
  return out;
}
