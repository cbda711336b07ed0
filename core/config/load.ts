/**
 * Reads router.yaml into a checked RouterConfig, keeping every node's position so that any later
 * problem (a plugin's options, a failed provision) can still be reported at its line.
 *
 *   const loaded = await loadConfig('router.yaml');   // throws ConfigError listing every problem
 *   loaded.issue(['pipeline', 2, 'with'], 'must ...') // a located issue for later stages
 */
import { readFile } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { compileSchema, describeErrors } from './ajv.ts';
import { ConfigError, formatPath, type ConfigIssue } from './config-error.ts';
import { substituteEnv } from './env.ts';
import { routerConfigSchema, type RouterConfig } from './schema.ts';

export interface LoadedConfig {
  /**
   * Problems found in the file itself (schema, environment). Compiling continues past them to
   * check every plugin too, so one attempt reports everything; then it fails with all of them.
   */
  issues: ConfigIssue[];
  /** Absolute path of the file. */
  file: string;
  /** The file as users named it, for messages. */
  displayFile: string;
  dir: string;
  config: RouterConfig;
  /** A located issue at a YAML path (nearest existing node when the path itself is missing). */
  issue(path: ReadonlyArray<string | number>, message: string): ConfigIssue;
}

/** Reads and checks router.yaml; throws a ConfigError listing every problem in the file. */
export async function loadConfig(file: string, env: Record<string, string | undefined> = process.env): Promise<LoadedConfig> {
  const loaded = await readConfig(file, env);
  if (loaded.issues.length > 0) throw new ConfigError(loaded.issues);
  return loaded;
}

/**
 * Reads router.yaml, collecting schema problems in `issues` instead of throwing; throws only when
 * the file cannot be read or is not YAML at all.
 */
export async function readConfig(file: string, env: Record<string, string | undefined> = process.env): Promise<LoadedConfig> {
  const absolute = resolve(file);
  const displayFile = relative(process.cwd(), absolute) || absolute;
  let text: string;
  try {
    text = await readFile(absolute, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message;
    throw new ConfigError([{ file: displayFile, path: '', message: `cannot read config: ${reason}` }]);
  }
  return parseConfig(text, absolute, displayFile, env);
}

/** Parses config text; the caller decides what to do with `issues`. */
export function parseConfig(text: string, file: string, displayFile: string, env: Record<string, string | undefined>): LoadedConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const issue = (path: ReadonlyArray<string | number>, message: string): ConfigIssue => {
    const offset = locate(doc, path);
    const pos = offset === undefined ? undefined : lineCounter.linePos(offset);
    return { file: displayFile, line: pos?.line, column: pos?.col, path: formatPath(path), message };
  };

  if (doc.errors.length > 0) {
    const seen = new Set<number>();
    const syntax: ConfigIssue[] = [];
    for (const e of doc.errors) {
      const pos = lineCounter.linePos(e.pos[0]);
      if (seen.has(pos.line)) continue; // one bad indent often yields several errors on one line
      seen.add(pos.line);
      syntax.push({ file: displayFile, line: pos.line, column: pos.col, path: '', message: `YAML syntax: ${e.message.split(' at line ')[0].split('\n')[0]}` });
    }
    throw new ConfigError(syntax);
  }
  if (!isMap(doc.contents)) {
    throw new ConfigError([{ file: displayFile, line: 1, column: 1, path: '', message: 'the config must be a YAML mapping (with at least `providers:`)' }]);
  }

  const issues: ConfigIssue[] = substituteEnv(doc, env).map((m) =>
    issue(m.path, `environment variable ${m.name} is not set (write \${${m.name}:-default} to give a default)`),
  );
  const config = doc.toJS() as RouterConfig;
  const validate = compileSchema(routerConfigSchema);
  if (!validate(config)) {
    for (const problem of describeErrors(validate.errors)) issues.push(issue(problem.path, problem.message));
  } else {
    issues.push(...checkNames(config, issue));
  }
  return { issues, file, displayFile, dir: dirname(file), config, issue };
}

function checkNames(config: RouterConfig, issue: LoadedConfig['issue']): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const names = new Map<string, number>();
  config.pipeline.forEach((entry, i) => {
    if (entry.name === undefined) return;
    const first = names.get(entry.name);
    if (first !== undefined) out.push(issue(['pipeline', i, 'name'], `"${entry.name}" is already the name of pipeline[${first}]`));
    else names.set(entry.name, i);
  });
  return out;
}

/** Source offset of the node at `path`, walking as far as the path exists. */
function locate(doc: Document, path: ReadonlyArray<string | number>): number | undefined {
  let node: unknown = doc.contents;
  let offset = (node as Node | null)?.range?.[0];
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === key);
      if (!pair) break;
      const keyNode = pair.key as Node;
      offset = keyNode.range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof key === 'number' && node.items[key]) {
      node = node.items[key];
      offset = (node as Node).range?.[0] ?? offset;
    } else break;
  }
  return offset;
}
