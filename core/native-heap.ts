/**
 * Gives the C heap's free pages back to the system, with glibc's `malloc_trim`, when the router
 * falls idle (core/http/idle-collect.ts runs it after the garbage collections).
 *
 * Node allocates Buffers, socket reads and parser state with malloc. Under load glibc's main arena
 * grows, and once the load stops it keeps that size: `free` returns memory to the system only from
 * the top of the heap, and a few live allocations high up pin everything below them (after the
 * benchmark's traffic: 78 MB in the main arena, 5 MB of it in use). None of the allocator settings
 * we tried avoids it (docs/performance.md), and Node has no binding for the call, so koffi (a
 * maintained FFI library shipping prebuilt binaries) makes it.
 *
 * Where it cannot (macOS, Windows, musl, or koffi not installed: it is an optional dependency),
 * trimming reports why and the router carries on without it.
 */

/** The part of koffi used here: a C function called on a libuv thread. */
interface Koffi {
  load(path: string): { func(signature: string): NativeTrim };
}

interface NativeTrim {
  async(pad: number, done: (err: unknown, result: number) => void): void;
}

export interface HeapTrimmer {
  /**
   * Runs `malloc_trim(0)` on a libuv thread, so the event loop is not held while it walks the heap
   * (20–50 ms for ~100 MB of fragmented heap; meanwhile the main thread's own allocations wait for
   * the arena's lock). False when it could not (see `reason`); never throws.
   */
  trim(): Promise<boolean>;
  /** Why the last attempt did not trim, or undefined after one that did. */
  reason(): string | undefined;
}

/** `importKoffi` is a seam for tests; koffi is loaded once, at the first trim, and never again if that fails. */
export function heapTrimmer(importKoffi: () => Promise<Koffi> = importOptional, platform: string = process.platform): HeapTrimmer {
  let loading: Promise<NativeTrim | undefined> | undefined;
  let reason: string | undefined;
  const load = async (): Promise<NativeTrim | undefined> => {
    if (platform !== 'linux') {
      reason = `malloc_trim is glibc's; this is ${platform}`;
      return undefined;
    }
    try {
      return (await importKoffi()).load('libc.so.6').func('int malloc_trim(size_t pad)');
    } catch (err) {
      // No koffi, no libc.so.6, or (musl) no malloc_trim in it: trimming stays off.
      reason = `cannot call glibc's malloc_trim: ${(err as Error).message}`;
      return undefined;
    }
  };
  return {
    async trim() {
      const trim = await (loading ??= load());
      if (!trim) return false;
      return new Promise<boolean>((resolve) => {
        const failed = (err: unknown) => {
          reason = `malloc_trim failed: ${(err as Error)?.message ?? String(err)}`;
          resolve(false);
        };
        try {
          // koffi throws at once when its queue of asynchronous calls is full.
          trim.async(0, (err) => {
            if (err) return failed(err);
            reason = undefined;
            resolve(true);
          });
        } catch (err) {
          failed(err);
        }
      });
    },
    reason: () => reason,
  };
}

/** The package name is not a literal, so that building and type-checking work without the optional package. */
const koffiPackage: string = 'koffi';

async function importOptional(): Promise<Koffi> {
  const module = (await import(koffiPackage)) as { default?: Koffi };
  return module.default ?? (module as unknown as Koffi);
}

/** The process's one trimmer. */
export const nativeHeap = heapTrimmer();
