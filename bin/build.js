#!/usr/bin/env node
// Compiles core/ and plugins/ to dist/ (JavaScript and type declarations) with the TypeScript
// compiler, copies the loader hook that must stay plain JavaScript, and stamps the build time.
// `npm run build`, `npm install` (prepare) and router-kernel itself (when the sources changed) run it.
import { spawnSync } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));
const stamp = join(root, 'dist', '.build-stamp');

/**
 * The TypeScript compiler as a command, if installed (a development dependency). TypeScript 7 is a
 * native program behind a small Node launcher; the program is run directly, so no loader hooks of
 * the calling process (a test runner's, say) can reach it.
 */
export function compiler() {
  const require = createRequire(join(root, 'package.json'));
  try {
    const native = require.resolve(`@typescript/typescript-${process.platform}-${process.arch}/package.json`);
    const exe = join(native, '..', 'lib', process.platform === 'win32' ? 'tsc.exe' : 'tsc');
    if (existsSync(exe)) return [exe];
  } catch {
    // no native build for this platform: use the launcher below
  }
  try {
    const launcher = join(require.resolve('typescript/package.json'), '..', 'bin', 'tsc');
    return existsSync(launcher) ? [process.execPath, launcher] : undefined;
  } catch {
    return undefined;
  }
}

function newest(dir) {
  let time = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) time = Math.max(time, newest(path));
    else if (/\.(?:ts|mjs)$/.test(entry.name)) time = Math.max(time, statSync(path).mtimeMs);
  }
  return time;
}

/** True when there is no build, or a source file changed after it was made. */
export function isStale() {
  if (!existsSync(stamp)) return true;
  const built = statSync(stamp).mtimeMs;
  return ['core', 'plugins'].some((dir) => newest(join(root, dir)) > built);
}

export function build() {
  const tsc = compiler();
  if (!tsc) throw new Error('the TypeScript compiler is not installed (npm install in the router-kernel folder)');
  // A clean environment: the compiler must not inherit loader hooks meant for this process.
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const [command, ...args] = tsc;
  const result = spawnSync(command, [...args, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit', env });
  if (result.status !== 0) throw new Error(`tsc exited with ${result.status}`);
  mkdirSync(join(root, 'dist', 'core', 'plugins'), { recursive: true });
  cpSync(join(root, 'core', 'plugins', 'reload-hooks.mjs'), join(root, 'dist', 'core', 'plugins', 'reload-hooks.mjs'));
  writeRanks(env);
  writeFileSync(stamp, new Date().toISOString() + '\n');
}

/**
 * The tokenizer's rank tables, named by gpt-tokenizer's version: a token worker reads one whole
 * instead of compiling gpt-tokenizer's 2.4 MB module of string literals and building its Maps
 * (core/tokens/token-worker.ts builds the tables and names their files; it is compiled by now).
 * In a child process, so this process does not hold the ranks.
 */
function writeRanks(env) {
  // Files for other gpt-tokenizer versions (and the JSON ranks of older builds) are removed once
  // the new tables are written, so they are not shipped and a running worker never finds none.
  const script = `
    import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
    import { basename, dirname, join } from 'node:path';
    import { encodings, rankTableFromModule, ranksFile } from './dist/core/tokens/token-worker.js';
    const dir = dirname(ranksFile(encodings[0]));
    mkdirSync(dir, { recursive: true });
    for (const encoding of encodings) writeFileSync(ranksFile(encoding), await rankTableFromModule(encoding));
    const current = new Set(encodings.map((encoding) => basename(ranksFile(encoding))));
    for (const name of readdirSync(dir)) if (!current.has(name)) rmSync(join(dir, name), { force: true });`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, stdio: 'inherit', env });
  if (result.status !== 0) throw new Error(`writing the tokenizer ranks failed (exit ${result.status})`);
}

const lock = join(root, 'dist', '.build-lock');

/**
 * Builds unless the build is current. Several routers starting at once (a test suite, a process
 * manager) build once: the first takes a lock file, the others wait for it and find the build fresh.
 */
export function buildIfStale() {
  if (!isStale()) return false;
  mkdirSync(join(root, 'dist'), { recursive: true });
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx'));
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      // A lock older than the deadline was left by a build that died; take it over.
      if (Date.now() > deadline || Date.now() - statSync(lock).mtimeMs > 120_000) {
        unlinkSync(lock);
        continue;
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  }
  try {
    if (!isStale()) return false;
    build();
    return true;
  } finally {
    unlinkSync(lock);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    build();
  } catch (err) {
    process.stderr.write(`build failed: ${err.message}\n`);
    process.exit(1);
  }
}
