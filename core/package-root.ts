/**
 * Where router-kernel's own package lives, whether this module runs from the sources (core/) or
 * from the build (dist/core/): the nearest folder above with router-kernel's package.json.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'router-kernel') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('router-kernel: cannot find its own package.json');
    dir = parent;
  }
}

export const packageRoot = findRoot();
