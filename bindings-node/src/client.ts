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
    // Hit path: the core says synchronously whether it has a fresh token and which one (its
    // cache generation). Converting a token into a JavaScript object costs far more than that
    // look-up, so the object made for the same generation is returned again; when the core
    // serves another token, or none, it is converted anew or fetched. Expiry and freshness are
    // decided by the core on every call; this is only a memo of the conversion.
    const slot = this.slotFor(workspaceId, provider);
    const generation = native.peekGeneration(this.hot, slot.key);
    if (generation !== null) {
      if (slot.generation === generation && slot.credential !== undefined) return slot.credential;
      const hit = this.native.peekToken(workspaceId, provider);
      if (hit !== null) return remember(slot, hit);
    }
    return remember(slot, await this.call(() => this.native.getToken(workspaceId, provider)));
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
      slot = { key: this.native.internKey(workspaceId, provider), generation: -1, credential: undefined };
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
    // Not needed for correctness (a cleared token has no generation to match); frees memory.
    for (const byProvider of this.slots.values()) {
      for (const slot of byProvider.values()) slot.credential = undefined;
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

  /** The core cleared its cache on a session change; drop the converted hits too. */
  private forgetMemos(): void {
    for (const byProvider of this.slots.values()) {
      for (const slot of byProvider.values()) {
        slot.credential = undefined;
        slot.generation = -1;
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

/** The memo of one (workspace, provider). */
interface TokenSlot {
  key: number;
  generation: number;
  credential: Credential | undefined;
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
