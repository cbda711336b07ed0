import { readFileSync } from 'node:fs';
import t from 'tap';
import { errorCatalog } from '../../core/errors.ts';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const rows = new Map([...doc.matchAll(/^\| (RK_\w+) \| ([^|]+) \| ([^|]+) \| (yes|no) \|/gm)].map((m) => [m[1], { status: m[2].trim(), kind: m[3].trim(), expose: m[4] === 'yes' }]));

t.test('docs/errors.md documents exactly the codes in the catalog', async (t) => {
  t.same([...rows.keys()].sort(), Object.keys(errorCatalog).sort());
});

t.test('each documented status, kind and exposure matches the catalog', async (t) => {
  for (const [code, entry] of Object.entries(errorCatalog)) {
    const row = rows.get(code);
    if (!row) continue;
    t.equal(row.expose, entry.expose, `${code} exposure`);
    if (/^\d+$/.test(row.status)) t.equal(Number(row.status), entry.status, `${code} status`);
    else t.match(row.status, new RegExp(`^(mapped|${entry.status} .*)$`), `${code} status`);
    if (row.kind !== 'mapped' && row.kind !== 'from the upstream') t.equal(row.kind, entry.kind, `${code} kind`);
  }
});
