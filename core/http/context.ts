/** The kernel's RequestContext: one per model request, from parsed body to last byte written. */
import { channel } from 'node:diagnostics_channel';
import type { CanonicalRequest, Dialect } from '../canonical.ts';
import { channels, type Logger, type ProviderCatalog, type Credential, type PriorityClass, type ProviderResponse, type RawRequest, type RequestContext, type Route, type TokenCounting } from '../contract.ts';
import { requestBlocks, type RequestBlocks } from '../tokens/blocks.ts';
import { encodingFor, tokenFamilyFor } from '../tokens/families.ts';
import type { TokenCount } from '../tokens/token-counter.ts';

const droppedChannel = channel(channels.dropped);

export class KernelContext implements RequestContext {
  route: Route | undefined = undefined;
  response: ProviderResponse | undefined = undefined;
  rawStale = false;
  priority: PriorityClass = 'normal';
  deadline: number | undefined = undefined;
  credential: Credential | undefined = undefined;
  readonly state = new Map<string | symbol, unknown>();
  /** Response headers added by plugins. */
  readonly headers: Record<string, string> = {};
  /** Features a translation dropped (deduplicated), for `x-router-dropped`. */
  readonly droppedFeatures = new Set<string>();

  #log: Logger | undefined;
  #request: CanonicalRequest | undefined;

  constructor(
    readonly id: string,
    readonly dialect: Dialect,
    readonly endpoint: string,
    readonly model: string,
    readonly stream: boolean,
    private readonly parseRequest: () => CanonicalRequest,
    readonly raw: RawRequest,
    readonly catalog: ProviderCatalog,
    private readonly clientSignal: AbortSignal,
    private readonly parentLog: Logger,
    readonly startedAt: number,
    private readonly tokens: TokenCounting,
  ) {}

  #tokenCount: Promise<TokenCount> | undefined;
  #upstream: AbortController | undefined;

  /** The client's signal, until a plugin takes the upstream call over (see detachUpstream). */
  get signal(): AbortSignal {
    return this.#upstream?.signal ?? this.clientSignal;
  }

  detachUpstream(): { upstream: AbortController; client: AbortSignal } {
    if (!this.#upstream) {
      this.#upstream = new AbortController();
      if (this.clientSignal.aborted) this.#upstream.abort(this.clientSignal.reason);
    }
    return { upstream: this.#upstream, client: this.clientSignal };
  }

  countTokens(blocks?: RequestBlocks): Promise<TokenCount> {
    // The client's signal: a client that hangs up stops its count in the tokenizer pool.
    this.#tokenCount ??= this.tokens.countBlocks(blocks ?? requestBlocks(this.request), { family: tokenFamilyFor(this.model, this.dialect).name, encoding: encodingFor(this.model), signal: this.clientSignal });
    return this.#tokenCount;
  }

  get request(): CanonicalRequest {
    this.#request ??= this.parseRequest();
    return this.#request;
  }

  set request(request: CanonicalRequest) {
    this.#request = request;
  }

  /** Whether anything needed the full request (a passthrough that only routed never parses it). */
  get parsed(): boolean {
    return this.#request !== undefined;
  }

  /** A child logger carrying the request id, made on first use (most requests never log). */
  get log(): Logger {
    this.#log ??= this.parentLog.child({ reqId: this.id });
    return this.#log;
  }

  setHeader(name: string, value: string): void {
    this.headers[name.toLowerCase()] = value;
  }

  dropped(feature: string): void {
    if (this.droppedFeatures.has(feature)) return;
    this.droppedFeatures.add(feature);
    if (droppedChannel.hasSubscribers) droppedChannel.publish({ ctx: this, feature });
  }
}
