/**
 * `NexusClient`: the public entry point. Every method is a thin call into the Rust core (token
 * cache, resolve client with retries, strategy engine, connection lifecycle); this file only
 * converts names and shapes between JavaScript and the native addon, and maps errors.
 */

import { fromNative, InvalidRequestError } from './errors.js';
import { createFetcher } from './fetcher.js';
import { consoleErrorLogger, guardLogger, type Logger } from './logger.js';
import { native, type NativeClient, type NativeCredential } from './native.js';
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
   * the safety buffer (30 s); concurrent misses share one gateway call.
   */
  async getToken(workspaceId: string, provider: string): Promise<Credential> {
    // Fast path: a synchronous look-up in the core's cache, no promise round trip through the
    // native thread pool. The cache and its expiry rule are the core's.
    const hit = this.native.peekToken(workspaceId, provider);
    if (hit !== null && hit !== undefined) return toCredential(hit);
    return toCredential(await this.call(() => this.native.getToken(workspaceId, provider)));
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
