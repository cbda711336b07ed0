/** Built-in plugins use only the public contract, exactly as a third-party package would. */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const root = fileURLToPath(new URL('../../plugins/', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

t.test('built-in plugins import the kernel only as `router-kernel`', async (t) => {
  const offenders: string[] = [];
  for (const file of files(root)) {
    const source = readFileSync(file, 'utf8');
    for (const [, spec] of source.matchAll(/from\s+'([^']+)'/g)) {
      const allowed = spec === 'router-kernel' || spec.startsWith('node:') || (spec.startsWith('./') && !spec.includes('..')) || (!spec.startsWith('.') && !spec.startsWith('/'));
      if (!allowed || spec.includes('core/')) offenders.push(`${relative(root, file)} imports ${spec}`);
    }
  }
  t.same(offenders, []);
});
