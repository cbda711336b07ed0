/**
 * Gives the C heap's free pages back to the system, with glibc's `malloc_trim`, when the router
 * falls idle (core/http/idle-collect.ts runs it after the garbage collections).
 *
 * Node allocates Buffers, socket reads and parser state with malloc. Under load glibc's main arena
 * grows, and once the load stops it keeps that size: `free` returns memory to the system only from
 * the top of the heap, and a few live allocations high up pin everything below them. Measured after
 * the benchmark's cases, 15 s idle: 78 MB in the main arena with 5 MB of it in use, and the router
 * at 171 MB resident; `malloc_trim(0)` took it to 102 MB. No allocator setting avoids this (with
 * `MALLOC_MMAP_THRESHOLD_` at 32 KB the arena still kept 48 MB), and Node has no binding for the
 * call, so koffi (a maintained FFI library shipping prebuilt binaries) makes it.
 *
 * Where it cannot (macOS, Windows, musl, or koffi not installed: it is an optional dependency),
 * `trimNativeHeap` does nothing and says so once.
 */
type Trim = (pad: number, done: (err: unknown, result: number) => void) => void;

let loading: Promise<Trim | undefined> | undefined;
let reason: string | undefined;

/**
 * Runs `malloc_trim(0)` on a libuv thread, so the event loop is not held while it walks the heap
 * (~20 ms for a heap of ~80 MB). False when this platform cannot (see `trimUnavailableReason`);
 * never throws.
 */
export async function trimNativeHeap(): Promise<boolean> {
  const trim = await (loading ??= loadTrim());
  if (!trim) return false;
  return new Promise<boolean>((resolve) => trim(0, (err) => resolve(!err)));
}

/** Why the last attempt could not trim, or undefined when it can. */
export function trimUnavailableReason(): string | undefined {
  return reason;
}

async function loadTrim(): Promise<Trim | undefined> {
  if (process.platform !== 'linux') {
    reason = `malloc_trim is glibc's; this is ${process.platform}`;
    return undefined;
  }
  try {
    const koffi = (await import('koffi')).default;
    // musl has no libc.so.6 and no malloc_trim: either failure leaves trimming off.
    const fn = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)');
    return (pad, done) => fn.async(pad, done);
  } catch (err) {
    reason = `cannot call glibc's malloc_trim: ${(err as Error).message}`;
    return undefined;
  }
}
