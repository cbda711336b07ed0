import t from 'tap';
import { isConfigError } from '../../../core/config/config-error.ts';
import { parseConfig } from '../../../core/config/load.ts';

import { ConfigError } from '../../../core/config/config-error.ts';

function parse(yaml: string, env: Record<string, string | undefined>) {
  const loaded = parseConfig(yaml, '/x/router.yaml', 'router.yaml', env);
  if (loaded.issues.length > 0) throw new ConfigError(loaded.issues);
  return loaded.config;
}

t.test('${VAR} is replaced with the environment value', async (t) => {
  const config = parse('providers:\n  p:\n    use: openai\n    api_key: ${KEY}\n', { KEY: 'sk-123' });
  t.equal(config.providers.p.api_key, 'sk-123');
});

t.test('${VAR:-default} uses the default when the variable is unset or empty', async (t) => {
  const yaml = 'server:\n  port: ${PORT:-4000}\nproviders:\n  p:\n    use: mock\n    url: http://${HOST:-localhost}:1/v1\n';
  t.equal(parse(yaml, {}).server.port, 4000, 'numbers from variables are coerced where the schema wants a number');
  t.equal(parse(yaml, { PORT: '' }).server.port, 4000);
  t.equal(parse(yaml, { PORT: '5000', HOST: 'h' }).server.port, 5000);
  t.equal(parse(yaml, { HOST: 'h' }).providers.p.url, 'http://h:1/v1');
});

t.test('several variables in one value are all replaced', async (t) => {
  const config = parse('providers:\n  p:\n    use: mock\n    base: ${A}-${B:-b}-${A}\n', { A: 'a' });
  t.equal(config.providers.p.base, 'a-b-a');
});

t.test('$${VAR} is a literal', async (t) => {
  const config = parse('providers:\n  p:\n    use: mock\n    note: "$${HOME}"\n', { HOME: '/root' });
  t.equal(config.providers.p.note, '${HOME}');
});

t.test('every missing variable is an error naming it', async (t) => {
  try {
    parse('providers:\n  p:\n    use: mock\n    keys: ["${K1}", "${K2}"]\n', {});
    t.fail('accepted');
  } catch (err) {
    t.ok(isConfigError(err));
    t.match((err as { issues: unknown[] }).issues, [
      { path: 'providers.p.keys[0]', line: 4, message: /K1 is not set/ },
      { path: 'providers.p.keys[1]', line: 4, message: /K2 is not set/ },
    ]);
  }
});

t.test('variables are not substituted in keys or comments', async (t) => {
  const config = parse('# ${NOPE}\nproviders:\n  p:\n    use: mock\n    "${K}": 1\n', {});
  t.equal(config.providers.p['${K}'], 1);
});
