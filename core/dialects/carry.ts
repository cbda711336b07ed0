/**
 * Provider data that must travel through a client and come back: the client echoes it without
 * understanding it, so the router hides it in fields clients always echo verbatim.
 *
 * - A tool call's opaque signature (Gemini's `thoughtSignature` on a `functionCall`) rides in the
 *   tool-call id, the one field every client must send back unchanged to pair the result with its
 *   call: `call_1` + `__rks_gemini_` + base64url(UTF-8 of the signature). The id keeps to `[A-Za-z0-9_-]`, so
 *   it stays valid even for providers that restrict ids (Anthropic).
 * - Reasoning that did not come from Anthropic is shown to Anthropic clients as a `thinking` block
 *   whose `signature` names its origin: `rk1.<origin>.<signature or empty>`. When the block comes
 *   back the router knows not to present it to Anthropic as an Anthropic signature.
 *
 * Ingress codecs apply these when rendering and undo them when parsing, so the canonical model,
 * and every upstream request, only ever sees clean ids and real signatures.
 */

const idMarker = '__rks_';

export function toClientToolId(id: string, signature: string | undefined, origin: string | undefined): string {
  if (!signature) return id;
  return `${id}${idMarker}${origin ?? 'x'}_${Buffer.from(signature, 'utf8').toString('base64url')}`;
}

export function fromClientToolId(id: string): { id: string; signature?: string; origin?: string } {
  const at = id.indexOf(idMarker);
  if (at === -1) return { id };
  const rest = id.slice(at + idMarker.length);
  const cut = rest.indexOf('_');
  if (cut === -1) return { id };
  return { id: id.slice(0, at), origin: rest.slice(0, cut), signature: Buffer.from(rest.slice(cut + 1), 'base64url').toString('utf8') };
}

const reasoningPrefix = 'rk1.';

/** The signature an Anthropic client sees on a thinking block. */
export function toClientReasoningSignature(signature: string | undefined, origin: string | undefined): string {
  if (origin === 'anthropic' || (origin === undefined && signature)) return signature ?? '';
  return `${reasoningPrefix}${origin ?? 'unknown'}.${signature ?? ''}`;
}

/** Undoes toClientReasoningSignature: a real Anthropic signature, or the origin the router recorded. */
export function fromClientReasoningSignature(signature: string): { signature?: string; origin?: string } {
  if (!signature.startsWith(reasoningPrefix)) return signature ? { signature, origin: 'anthropic' } : {};
  const rest = signature.slice(reasoningPrefix.length);
  const dot = rest.indexOf('.');
  const origin = dot === -1 ? rest : rest.slice(0, dot);
  const inner = dot === -1 ? '' : rest.slice(dot + 1);
  return inner ? { origin, signature: inner } : { origin };
}

/**
 * Whether a client body still holds the router's own encodings (tool ids with a carried signature,
 * `rk1.` thinking signatures). Such a body cannot be passed through: the markers mean nothing to the
 * upstream (Anthropic rejects the signature, OpenAI caps tool ids at 40 characters); translating it
 * decodes them.
 */
export function carriesRouterMarkers(raw: Buffer): boolean {
  return raw.includes(idMarker) || raw.includes(`"${reasoningPrefix}`);
}
