// Module hooks (node:module register) that make local plugin files reloadable. Node cannot unload
// an ES module, so a changed plugin is imported again under a fresh URL: `?rk-reload=N` on the
// plugin file. This resolve hook passes the same marker on to the local files that file imports,
// so helpers reload with it, while node_modules and the kernel itself keep their one shared copy.
// Plain JavaScript because it runs in the loader thread, before any TypeScript support.

let kernelDirs = [];
let port;
const seen = new Map(); // reload version -> Set of file URLs loaded under it

export function initialize(data) {
  kernelDirs = data.kernelDirs;
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
  const result = await nextResolve(specifier, context);
  const version = /[?&]rk-reload=(\d+)/.exec(context.parentURL ?? '')?.[1];
  const url = result.url;
  if (!version || !url.startsWith('file:') || url.includes('/node_modules/') || kernelDirs.some((dir) => url.startsWith(dir))) return result;
  const marked = /[?&]rk-reload=/.test(url) ? url : url + (url.includes('?') ? '&' : '?') + 'rk-reload=' + version;
  let files = seen.get(version);
  if (!files) seen.set(version, (files = new Set()));
  files.add(marked.split('?')[0]);
  return { ...result, url: marked };
}
