/**
 * Resources shared across plugin instances and generations (Caddy's usage pool): an upstream
 * connection pool survives a reload because the new instance asks for it under the same key
 * before the old instance lets go. Disposed when the last holder is cleaned up.
 */

interface Entry {
  value: unknown;
  holders: Set<object>;
  dispose: (value: unknown) => void | Promise<void>;
}

export class SharedResources {
  #entries = new Map<string, Entry>();

  acquire<T>(holder: object, key: string, create: () => T, dispose: (value: T) => void | Promise<void>): T {
    let entry = this.#entries.get(key);
    if (!entry) {
      entry = { value: create(), holders: new Set(), dispose: dispose as Entry['dispose'] };
      this.#entries.set(key, entry);
    }
    entry.holders.add(holder);
    return entry.value as T;
  }

  /** Lets go of everything `holder` acquired; disposes what nobody holds any more. */
  async release(holder: object): Promise<void> {
    for (const [key, entry] of this.#entries) {
      if (!entry.holders.delete(holder) || entry.holders.size > 0) continue;
      this.#entries.delete(key);
      await entry.dispose(entry.value);
    }
  }

  get size(): number {
    return this.#entries.size;
  }
}
