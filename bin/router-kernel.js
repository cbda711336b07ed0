#!/usr/bin/env node
// Entry for `npx router-kernel`. Runs the compiled build (dist/), rebuilding it first when the
// sources are newer (an edited checkout); without a compiler it runs the TypeScript sources
// through tsx instead, which works the same but starts and runs slower (measured: about 2.5 times
// the CPU per request, see docs/performance.md).
import { buildIfStale, compiler, isStale } from './build.js';

let cli = new URL('../dist/core/cli.js', import.meta.url).href;
// ROUTER_KERNEL_FROM_SOURCE=1 runs the TypeScript sources directly (for debugging with source lines).
const fromSource = process.env.ROUTER_KERNEL_FROM_SOURCE === '1';
if (fromSource || isStale()) {
  if (!fromSource && compiler()) {
    process.stderr.write('router-kernel: the sources changed since the last build; building dist/ first\n');
    buildIfStale();
  } else {
    const { register } = await import('tsx/esm/api');
    register();
    // `router-kernel` in the built-in plugins must mean these sources, not a (missing) build.
    const { reloadHooks } = await import('../core/plugins/load-module.ts');
    reloadHooks({ mapAll: true });
    cli = new URL('../core/cli.ts', import.meta.url).href;
  }
}
const { main } = await import(cli);
const code = await main(process.argv.slice(2));
process.exitCode = code;
// Everything is closed by now, so Node exits on its own; this unref'd timer only stops a stray
// handle (a plugin's forgotten timer, say) from keeping a stopped router alive.
setTimeout(() => process.exit(code), 1000).unref();
