/** The public option and result types of the SDK. */

import type { Logger } from './logger.js';

/** How the client retries a failed gateway call (connect errors, 5xx, 429). The core applies it. */
export interface RetryPolicy {
  /** Retries after the first attempt. Default 2; `0` disables retrying. */
  maxRetries?: number;
  /** Backoff before the first retry, doubled each time (with jitter). Default 100 ms. */
  initialBackoffMs?: number;
  /** Upper bound of one backoff. Default 2,000 ms. */
  maxBackoffMs?: number;
}

export interface NexusClientOptions {
  /** Base URL of the Nexus gateway, e.g. `https://nexus.example.com` or `http://127.0.0.1:8080`. */
  gatewayUrl: string;
  /** A workspace API key. Sent as `Authorization: Bearer …` to the gateway only. */
  apiKey: string;
  retryPolicy?: RetryPolicy;
  /** Timeout of one gateway call. Default 10,000 ms. */
  timeoutMs?: number;
  /** Where the SDK logs. Default: warnings and errors to stderr (never stdout). */
  logger?: Logger;
}

/** Which credential a fetcher injects. */
export interface FetcherOptions {
  workspaceId: string;
  /** The provider's name in the workspace, e.g. `github`. */
  provider: string;
  /**
   * `direct` (default): the credential is resolved and injected here, and the request goes
   * straight to the upstream URL given. `proxy`: the request goes through the gateway, which
   * injects the credential (this process never holds it); the fetcher then takes a path
   * relative to the provider's `api_base_url` (`'/contacts/42?x=1'`). See docs/proxy.md.
   */
  mode?: 'direct' | 'proxy';
  /** Proxy mode only: another host of the provider (an entry of its `proxy.allowed_hosts`). */
  host?: string;
}

/** How a credential is injected upstream, as the gateway described it. */
export interface StrategySpec {
  /** `oauth2`, `header`, `query_param`, `basic_auth`, `hmac_payload` or `aws_sigv4`. */
  readonly type: string;
  readonly config: Readonly<Record<string, unknown>>;
}

/** A short-lived credential from the gateway. Never holds a refresh token or client secret. */
export interface Credential {
  readonly accessToken: string | undefined;
  readonly tokenType: string;
  /** RFC 3339; `undefined` for credentials that never expire. */
  readonly expiresAt: string | undefined;
  /** Whole seconds until expiry when this object was made (`expiresAt` is the fixed point). */
  readonly expiresIn: number | undefined;
  readonly strategy: StrategySpec;
  /** The fields the strategy reads (`access_token`, `api_key`, `username`, …). */
  readonly credentials: Readonly<Record<string, unknown>>;
  readonly scopes: readonly string[];
  readonly apiBaseUrl: string | undefined;
  readonly connectionId: string | undefined;
}

export interface ResolveOptions {
  /** Skip every cache and make the broker refresh at the provider. */
  forceRefresh?: boolean;
  /** The credential must stay valid at least this many seconds. */
  minTtlSeconds?: number;
}

export interface RequestConnectionOptions {
  /** The end user the connection is for (your own identifier). */
  userId: string;
  provider: string;
  /** Scopes to request; the provider's defaults when empty. */
  scopes?: string[];
  /** Where the person's browser goes after the callback. */
  returnUrl?: string;
  metadata?: Record<string, unknown>;
}

export interface ConnectionRequest {
  /** Send the person here to authorize. */
  authUrl: string;
  connectionId: string;
  state: string;
  scopes: string[];
  providerId: string;
}

export type ConnectionStatus = 'pending' | 'active' | 'needs_reauth' | 'revoked' | 'failed';

export interface ConnectionState {
  status: ConnectionStatus;
  connectionId: string | undefined;
  providerName: string | undefined;
  /** With `needs_reauth`: where to send the person. */
  reauthUrl: string | undefined;
}

/** The signature of the global `fetch`. */
export type Fetcher = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
