/**
 * The key a block's count is remembered by: a 64-bit xxHash of its text or bytes.
 *
 * Every routing decision on a long conversation hashes all of it (~500 KB for a 100k-token Claude
 * Code request): SHA-1 took ~0.3 ms of the event loop for that, xxh64 (xxhash-wasm, a small,
 * dependency-free WebAssembly build, ~10M downloads a month) ~0.05 ms. The keys need no
 * cryptographic strength, only to differ: two different blocks share a key with odds of about
 * 2 in 10⁹ across a full cache of 250,000 blocks. The seed is random per process, so a client cannot
 * craft a block that collides with another client's to make the cache hand it a wrong count.
 *
 *   const hasher = await blockHasher();
 *   hasher.text('hello');  hasher.bytes(body.subarray(a, b));
 */
import { randomBytes } from 'node:crypto';
import xxhash from 'xxhash-wasm';

export interface BlockHasher {
  text(text: string): string;
  bytes(bytes: Uint8Array): string;
}

const seed = randomBytes(8).readBigUInt64LE();

// Compiled once, on first import (a few milliseconds), not with the first request.
const loading: Promise<BlockHasher> = xxhash().then(({ h64, h64Raw }) => ({
  text: (text) => h64(text, seed).toString(36),
  bytes: (bytes) => h64Raw(bytes, seed).toString(36),
}));
let loaded: BlockHasher | undefined;
void loading.then((hasher) => (loaded = hasher));

/** The hasher; resolved at once after the module's first microtasks. */
export function blockHasher(): BlockHasher | Promise<BlockHasher> {
  return loaded ?? loading;
}
