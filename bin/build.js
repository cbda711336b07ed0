#!/usr/bin/env node
// Compiles core/ and plugins/ to dist/ (JavaScript and type declarations) with the TypeScript
// compiler, copies the loader hook that must stay plain JavaScript, and stamps the build time.
// `npm run build`, `npm install` (prepare) and router-kernel itself (when the sources changed) run it.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));
const stamp = join(root, 'dist', '.build-stamp');

/** The TypeScript compiler, if installed (it is a development dependency). */
export function compiler() {
  try {
    // The package's exports do not list its bin; find the package, then its declared `tsc` bin.
    const manifest = createRequire(join(root, 'package.json')).resolve('typescript/package.json');
    const bin = join(manifest, '..', 'bin', 'tsc');
    return existsSync(bin) ? bin : undefined;
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
  const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`tsc exited with ${result.status}`);
  mkdirSync(join(root, 'dist', 'core', 'plugins'), { recursive: true });
  cpSync(join(root, 'core', 'plugins', 'reload-hooks.mjs'), join(root, 'dist', 'core', 'plugins', 'reload-hooks.mjs'));
  writeFileSync(stamp, new Date().toISOString() + '\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    build();
  } catch (err) {
    process.stderr.write(`build failed: ${err.message}\n`);
    process.exit(1);
  }
}
