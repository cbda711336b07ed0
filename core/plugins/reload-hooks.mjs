// Module hooks (node:module register) that make local plugin files reloadable. Node cannot unload
// an ES module, so a changed plugin is imported again under a fresh URL: `?rk-reload=N` on the
// plugin file. This resolve hook passes the same marker on to the local files that file imports,
// so helpers reload with it, while node_modules and the kernel itself keep their one shared copy.
// Plain JavaScript because it runs in the loader thread, before any TypeScript support.

let kernelDirs = [];
let kernelEntries = {};
let mapAll = false;
let port;
const seen = new Map(); // reload version -> Set of file URLs loaded under it

export function initialize(data) {
  kernelDirs = data.kernelDirs;
  kernelEntries = data.kernelEntries;
  mapAll = data.mapAll;
  port = data.port;
  port.on('message', (message) => {
    if (message.type === 'files') {
      port.postMessage({ type: 'files', version: message.version, files: [...(seen.get(message.version) ?? [])] });
      seen.delete(message.version);
    }
  });
  port.unref();
}

export async function resolve(specifier, context, nextResolve) {
  const version = /[?&]rk-reload=(\d+)/.exec(context.parentURL ?? '')?.[1];
  // `import ... from 'router-kernel'` in a local plugin means the kernel that is running, wherever
  // the file lives and whether or not a copy is installed next to it.
  // Resolved through the rest of the chain, so a TypeScript entry still gets tsx's treatment.
  if ((version || mapAll) && Object.hasOwn(kernelEntries, specifier)) return nextResolve(kernelEntries[specifier], context);
  let result;
  try {
    result = await nextResolve(specifier, context);
  } catch (err) {
    // An npm plugin package that expects router-kernel as a peer gets the running one too.
    if (err?.code === 'ERR_MODULE_NOT_FOUND' && Object.hasOwn(kernelEntries, specifier)) return nextResolve(kernelEntries[specifier], context);
    throw err;
  }
  const url = result.url;
  if (!version || !url.startsWith('file:') || url.includes('/node_modules/') || kernelDirs.some((dir) => url.startsWith(dir))) return result;
  const marked = /[?&]rk-reload=/.test(url) ? url : url + (url.includes('?') ? '&' : '?') + 'rk-reload=' + version;
  let files = seen.get(version);
  if (!files) seen.set(version, (files = new Set()));
  files.add(marked.split('?')[0]);
  return { ...result, url: marked };
}

// Local plugin files are ES modules (`export default definePlugin(...)`) wherever they live: a
// folder without `"type": "module"` would otherwise make Node read them as CommonJS, where
// `import ... from 'router-kernel'` could not be pointed at the running kernel.
export async function load(url, context, nextLoad) {
  if (/[?&]rk-reload=/.test(url) && /\.(?:[mc]?ts|tsx|m?js|jsx)(?:\?|$)/.test(url) && !/\.c[tj]s(?:\?|$)/.test(url)) {
    return nextLoad(url, { ...context, format: 'module' });
  }
  return nextLoad(url, context);
}
