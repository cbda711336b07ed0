#!/usr/bin/env node
// Entry for `npx router-kernel`. The kernel and plugins are TypeScript, loaded through tsx so that
// local plugin files in TypeScript work the same way; nothing needs a build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../core/cli.ts');
const code = await main(process.argv.slice(2));
process.exitCode = code;
// Everything is closed by now, so Node exits on its own; this unref'd timer only stops a stray
// handle (a plugin's forgotten timer, say) from keeping a stopped router alive.
setTimeout(() => process.exit(code), 1000).unref();
