/**
 * `NexusClient`: the public entry point. Every method is a thin call into the Rust core (token
 * cache, resolve client with retries, strategy engine, connection lifecycle); this file only
 * converts names and shapes between JavaScript and the native addon, and maps errors.
 */

import { fromNative, InvalidRequestError } from './errors.js';
import { createFetcher } from './fetcher.js';
import { consoleErrorLogger, guardLogger, type Logger } from './logger.js';
import { native, type NativeClient, type NativeCredential, type NativeHotPath } from './native.js';
import { toSession, type Authorization, type Session, type StartSessionOptions } from './session.js';
import type {
  ConnectionRequest,
  ConnectionState,
  ConnectionStatus,
  Credential,
  Fetcher,
  FetcherOptions,
  NexusClientOptions,
  RequestConnectionOptions,
  ResolveOptions,
} from './types.js';

export class NexusClient {
  /** @internal The core client; shared by every fetcher of this client (one cache). */
  readonly native: NativeClient;
  /** @internal */
  readonly logger: Logger;
  /** @internal The hot-path handle of the native client (see `peekGeneration` in src/client.rs). */
  readonly hot: NativeHotPath;
  /** Per workspace and provider: the interned key and the last converted cache hit. */
  private readonly slots = new Map<string, Map<string, TokenSlot>>();
  /** The core's counters a held hit depends on; `undefined`: every hit asks the core. */
  private readonly words: HoldWords | undefined;

  constructor(options: NexusClientOptions) {
    requireString(options?.gatewayUrl, 'gatewayUrl');
    requireString(options.apiKey, 'apiKey');
    this.logger = options.logger === undefined ? consoleErrorLogger() : guardLogger(options.logger);
    const retry = options.retryPolicy ?? {};
    try {
      this.native = new native.NativeClient({
        gatewayUrl: options.gatewayUrl,
        apiKey: options.apiKey,
        timeoutMs: options.timeoutMs,
        maxRetries: retry.maxRetries,
        initialBackoffMs: retry.initialBackoffMs,
        maxBackoffMs: retry.maxBackoffMs,
      });
    } catch (error) {
      throw fromNative(error);
    }
    this.hot = this.native.hotPath();
    this.words = holdWords(this.hot);
  }

  /**
   * A function with the exact signature of `fetch` that injects the workspace's credential for
   * `provider` into every request, as the gateway's strategy says.
   */
  createFetcher(options: FetcherOptions): Fetcher {
    requireString(options?.workspaceId, 'workspaceId');
    requireString(options.provider, 'provider');
    return createFetcher(this, options);
  }

  /**
   * The credential for `provider`, from the core's cache when it is still valid for more than
   * the safety buffer (30 s); concurrent misses share one gateway call. The returned object is
   * frozen: repeated hits on the same cached token return the same object.
   */
  async getToken(workspaceId: string, provider: string): Promise<Credential> {
    // Hit path without a native call: the core's last answer for this key (see src/held.rs),
    // served again while the core would serve that same token: before the core's deadline and
    // while neither the cache (any write) nor the principal (a session change) has changed.
    // The deadline: the core's coarse clock decides far from it (no clock read); in its last
    // window, or while the clock is not trusted (the word is then Infinity), the real clock.
    const slot = this.slotFor(workspaceId, provider);
    const words = this.words;
    if (
      words !== undefined &&
      ((words.clock[0] as number) < slot.coarseUntil || performance.now() < slot.deadline) &&
      words.epoch[0] === slot.epochLow &&
      words.epoch[1] === slot.epochHigh &&
      words.principal[0] === slot.principalLow &&
      words.principal[1] === slot.principalHigh
    ) {
      return slot.credential as Credential;
    }
    return this.getTokenSlow(workspaceId, provider, slot);
  }

  /** Ask the core: a hit (held for later calls when the runtime shares memory) or a fetch. */
  private async getTokenSlow(workspaceId: string, provider: string, slot: TokenSlot): Promise<Credential> {
    const hit = this.peekAndHold(workspaceId, provider, slot);
    if (hit !== undefined) return hit;
    const fetched = remember(slot, await this.call(() => this.native.getToken(workspaceId, provider)));
    // Held from the first call on when the core now serves this very token (same object).
    return this.peekAndHold(workspaceId, provider, slot) ?? fetched;
  }

  /** The core's fresh hit for the slot, held when the runtime shares memory; else `undefined`. */
  private peekAndHold(workspaceId: string, provider: string, slot: TokenSlot): Credential | undefined {
    slot.deadline = -Infinity;
    slot.coarseUntil = -Infinity;
    const words = this.words;
    if (words === undefined) {
      const generation = native.peekGeneration(this.hot, slot.key);
      return generation === null ? undefined : this.convertHit(workspaceId, provider, slot, generation);
    }
    // Versions and clock first: a change racing with the look-up ends the copy early, never late.
    const epochLow = words.epoch[0] as number;
    const epochHigh = words.epoch[1] as number;
    const principalLow = words.principal[0] as number;
    const principalHigh = words.principal[1] as number;
    const before = performance.now();
    const held = native.peekHeld(this.hot, slot.key);
    if (held === null) return undefined;
    const credential = this.convertHit(workspaceId, provider, slot, held.generation);
    if (credential === undefined) return undefined;
    slot.epochLow = epochLow;
    slot.epochHigh = epochHigh;
    slot.principalLow = principalLow;
    slot.principalHigh = principalHigh;
    slot.deadline = before + held.usableForMs;
    slot.coarseUntil = held.coarseUntilMs;
    return credential;
  }

  /**
   * The credential of the core's fresh token of `generation`: the object already made for it,
   * or a new conversion; `undefined` when the core now serves another token (or none).
   */
  private convertHit(workspaceId: string, provider: string, slot: TokenSlot, generation: number): Credential | undefined {
    if (slot.generation === generation && slot.credential !== undefined) return slot.credential;
    const hit = this.native.peekToken(workspaceId, provider);
    if (hit === null) return undefined;
    const credential = remember(slot, hit);
    return hit.generation === generation ? credential : undefined;
  }

  /** The memo slot of (workspace, provider), with its interned native key. */
  private slotFor(workspaceId: string, provider: string): TokenSlot {
    let byProvider = this.slots.get(workspaceId);
    if (byProvider === undefined) {
      byProvider = new Map();
      this.slots.set(workspaceId, byProvider);
    }
    let slot = byProvider.get(provider);
    if (slot === undefined) {
      slot = {
        key: this.native.internKey(workspaceId, provider),
        generation: -1,
        credential: undefined,
        deadline: -Infinity,
        coarseUntil: -Infinity,
        epochLow: 0,
        epochHigh: 0,
        principalLow: 0,
        principalHigh: 0,
      };
      byProvider.set(provider, slot);
    }
    return slot;
  }

  /** One `GET /v1/resolve` now, without the cache (neither read nor written). */
  async resolveToken(workspaceId: string, provider: string, options: ResolveOptions = {}): Promise<Credential> {
    return toCredential(
      await this.call(() =>
        this.native.resolveToken(workspaceId, provider, options.forceRefresh ?? false, options.minTtlSeconds),
      ),
    );
  }

  /** Forget the cached credential of one (workspace, provider), or (no arguments) all of them. */
  clearToken(workspaceId?: string, provider?: string): void {
    try {
      this.native.clearToken(workspaceId, provider);
    } catch (error) {
      throw fromNative(error);
    }
    // Not needed for correctness (a clear is a cache write: held hits end; a cleared token has
    // no generation to match); frees memory.
    for (const byProvider of this.slots.values()) {
      for (const slot of byProvider.values()) {
        slot.credential = undefined;
        slot.generation = -1;
        slot.deadline = -Infinity;
        slot.coarseUntil = -Infinity;
      }
    }
  }

  /** Start the connect flow for a user; send the person to `authUrl`. */
  async requestConnection(options: RequestConnectionOptions): Promise<ConnectionRequest> {
    const r = await this.call(() =>
      this.native.requestConnection({
        userId: options.userId,
        provider: options.provider,
        scopes: options.scopes ?? [],
        returnUrl: options.returnUrl,
        metadataJson: options.metadata === undefined ? undefined : JSON.stringify(options.metadata),
      }),
    );
    return {
      authUrl: r.authUrl,
      connectionId: r.connectionId,
      state: r.state,
      scopes: r.scopes,
      providerId: r.providerId,
    };
  }

  async checkConnection(connectionId: string): Promise<ConnectionState> {
    return toConnectionState(await this.call(() => this.native.checkConnection(connectionId)));
  }

  /**
   * Poll the connection every `intervalMs` until it is active. Rejects with
   * `ConnectionFailedError` when it reaches a state it will not leave by itself (`needs_reauth`,
   * `revoked`, `failed`), and with `signal.reason` when `signal` aborts.
   */
  async waitForActive(connectionId: string, intervalMs = 2000, signal?: AbortSignal): Promise<ConnectionState> {
    signal?.throwIfAborted();
    const wait = this.native.waitForActive(connectionId, intervalMs);
    const onAbort = (): void => wait.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return toConnectionState(await wait.result());
    } catch (error) {
      // A cancelled wait surfaces as the signal's own reason, like `fetch` does.
      if (signal?.aborted === true) throw signal.reason;
      throw fromNative(error);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** The credential of one connection, by id. */
  async getTokenByConnectionId(connectionId: string): Promise<Credential> {
    return toCredential(await this.call(() => this.native.getTokenByConnectionId(connectionId)));
  }

  /** Make the broker refresh the connection's token at the provider now. */
  async refreshConnection(connectionId: string): Promise<Credential> {
    return toCredential(await this.call(() => this.native.refreshConnection(connectionId)));
  }

  /**
   * Start an agent session: every resolve uses its token until `closeSession()`. The core renews
   * it at 80 % of its lifetime. A scope outside the agent's declared set fails with
   * `ScopeNotAllowedError`; a bad `onBehalfOf` token with `InvalidSubjectTokenError`.
   */
  async startSession(options: StartSessionOptions = {}): Promise<Session> {
    const ttl = options.ttlSeconds;
    if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 1 || ttl > 0xffffffff)) {
      throw new InvalidRequestError('invalid_request', 'ttlSeconds must be a positive integer', { kind: 'invalid_input' });
    }
    const session = await this.call(() =>
      this.native.startSession({
        scopes: [...(options.scopes ?? [])],
        ttlSeconds: ttl,
        onBehalfOf: options.onBehalfOf,
        agentCredential: options.agentCredential,
      }),
    );
    this.forgetMemos();
    return toSession(session);
  }

  /** Revoke the active session and go back to the API key (no-op without one). */
  async closeSession(): Promise<void> {
    try {
      await this.call(() => this.native.closeSession());
    } finally {
      this.forgetMemos();
    }
  }

  /** Check `scope` against the active session; a refusal throws (`ScopeNotAllowedError`, …). */
  async authorize(scope: string): Promise<Authorization> {
    requireString(scope, 'scope');
    const answer = await this.call(() => this.native.authorize(scope));
    return Object.freeze({ allowed: answer.allowed, scope: answer.scope, sessionId: answer.sessionId });
  }

  /** The active session (after renewals), or `undefined`. */
  get session(): Session | undefined {
    const current = this.native.currentSession();
    return current === null || current === undefined ? undefined : toSession(current);
  }

  /** A session change ends held hits through the core's principal version; this frees memory. */
  private forgetMemos(): void {
    for (const byProvider of this.slots.values()) {
      for (const slot of byProvider.values()) {
        slot.credential = undefined;
        slot.generation = -1;
        slot.deadline = -Infinity;
        slot.coarseUntil = -Infinity;
      }
    }
  }

  /** Run a native call and map its failure; the one place client errors are converted. */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw fromNative(error);
    }
  }
}

function requireString(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidRequestError('invalid_request', `${name} must be a non-empty string`, { kind: 'invalid_input' });
  }
}

/** @internal */
export function toCredential(n: NativeCredential): Credential {
  return {
    accessToken: n.accessToken ?? undefined,
    tokenType: n.tokenType,
    expiresAt: n.expiresAt ?? undefined,
    expiresIn: n.expiresIn ?? undefined,
    strategy: { type: n.strategyType, config: n.strategyConfig as Record<string, unknown> },
    credentials: n.credentials as Record<string, unknown>,
    scopes: n.scopes,
    apiBaseUrl: n.apiBaseUrl ?? undefined,
    connectionId: n.connectionId ?? undefined,
  };
}

/** The memo of one (workspace, provider), and the core's answer held for later hits. */
interface TokenSlot {
  key: number;
  generation: number;
  credential: Credential | undefined;
  /** `performance.now()` from which `credential` is not served without asking the core. */
  deadline: number;
  /**
   * While the core's coarse clock word is below this, `credential` is within its deadline
   * without a clock read (the core's deadline minus the clock's window, in the clock's base).
   */
  coarseUntil: number;
  /** The cache's write epoch and the principal version (as 32-bit words) it was held under. */
  epochLow: number;
  epochHigh: number;
  principalLow: number;
  principalHigh: number;
}

/**
 * The core's counters a held hit depends on, as shared memory (see src/held.rs), each a
 * monotonic u64 seen as two 32-bit words. Plain element reads, not `Atomics.load` (a builtin
 * call, ~9 ns each here): an aligned 32-bit read is atomic on the CPUs Node runs on, V8 does not
 * cache typed-array element loads across calls, and a word pair read while the core bumps the
 * counter can only equal a value the counter held at one of the two reads (it would take 2^32
 * bumps between two loads to fake a match), so a change always shows.
 */
interface HoldWords {
  epoch: Int32Array;
  principal: Int32Array;
  /**
   * The core's coarse clock (nexus_sdk::coarse_clock): one f64, read with a plain element load
   * (a single aligned 8-byte load on x86-64 and arm64, so never torn); Infinity while the clock
   * is not trusted, so `clock[0] < coarseUntil` is false and the real clock decides.
   */
  clock: Float64Array;
}

/** Views of the core's counters, or `undefined` where the runtime cannot share memory. */
function holdWords(hot: NativeHotPath): HoldWords | undefined {
  const epoch = native.epochWord(hot);
  const principal = native.principalWord(hot);
  if (epoch === null || principal === null) return undefined;
  const clock = native.coarseClockWord();
  return {
    epoch: new Int32Array(epoch, 0, 2),
    principal: new Int32Array(principal, 0, 2),
    // Without shared memory for the clock, a constant untrusted word: every hit reads the clock.
    clock: clock === null ? new Float64Array([Infinity]) : new Float64Array(clock, 0, 1),
  };
}

/** Convert a token once and keep it with the core's generation of it. */
function remember(slot: TokenSlot, hit: NativeCredential): Credential {
  const credential = freezeCredential(toCredential(hit));
  slot.generation = hit.generation;
  slot.credential = credential;
  return credential;
}

/** Shared hits must not be changed by one caller under another's feet. */
function freezeCredential(credential: Credential): Credential {
  Object.freeze(credential.strategy.config);
  Object.freeze(credential.strategy);
  Object.freeze(credential.credentials);
  Object.freeze(credential.scopes);
  return Object.freeze(credential);
}

function toConnectionState(n: {
  status: string;
  connectionId?: string | null;
  providerName?: string | null;
  reauthUrl?: string | null;
}): ConnectionState {
  return {
    status: n.status as ConnectionStatus,
    connectionId: n.connectionId ?? undefined,
    providerName: n.providerName ?? undefined,
    reauthUrl: n.reauthUrl ?? undefined,
  };
}
