/**
 * Calling an upstream API as the MCP user (design 17 §5.4), used by `ResourceServer` in
 * `mcp.ts`: the user's own credential for a provider (`userCredential`), a `fetch` that applies it
 * (`userFetcher`), and the URL elicitation (`-32042`) when the user has not connected the
 * provider yet (`toUrlElicitationError`).
 *
 * The gateway call, the per-user cache (never shared across users), the expiry rule, the
 * strategies and the 401 rule are the Rust core's (`nexus_sdk::resource_server::upstream`).
 */

import type { NexusClient } from './client.js';
import { toCredential } from './client.js';
import { ConnectionRequiredError, fromNative } from './errors.js';
import { prepareCall } from './fetcher.js';
import type * as Generated from '../native/index.js';
import type { Credential, Fetcher, ResolveOptions } from './types.js';

/** The user fields the core needs (the token included), as `authenticate` produced them. */
export interface UpstreamUser {
  subject: string;
  workspaceId: string;
  clientId: string;
  scopes: string[];
  expiresAt: number;
  issuer: string;
  resource: string;
  actor: string | null;
  grantId: string | null;
  tokenId: string | null;
  token: string;
}

function nativeUser(u: UpstreamUser): Generated.NativeMcpUser {
  return {
    subject: u.subject,
    workspaceId: u.workspaceId,
    clientId: u.clientId,
    scopes: u.scopes,
    expiresAt: u.expiresAt,
    issuer: u.issuer,
    resource: u.resource,
    actor: u.actor ?? undefined,
    grantId: u.grantId ?? undefined,
    tokenId: u.tokenId ?? undefined,
    token: u.token,
  };
}

/** `user`'s credential for `provider` (rejects with `ConnectionRequiredError` when not connected). */
export async function userCredential(
  client: NexusClient,
  user: UpstreamUser,
  provider: string,
  options: ResolveOptions = {},
): Promise<Credential> {
  try {
    const n = await client.native.userCredential(
      nativeUser(user),
      provider,
      options.forceRefresh ?? false,
      options.minTtlSeconds,
    );
    return toCredential(n);
  } catch (error) {
    throw fromNative(error);
  }
}

/**
 * A `fetch` that sends every request with `user`'s credential for `provider` (applied by the
 * core; on an upstream 401, replaced once and the request sent again).
 */
export function userFetcher(client: NexusClient, user: UpstreamUser, provider: string): Fetcher {
  const forCore = nativeUser(user);
  return async function userFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    const call = await prepareCall(input, init);
    try {
      const first = await client.native.prepareUserRequest(forCore, provider, call.forCore);
      const response = await call.send(first.url, first.headers);
      if (response.status !== 401) return response;
      await response.body?.cancel().catch(() => undefined);
      client.logger.info('upstream answered 401; refreshing the user credential and retrying once', { provider });
      const again = await client.native.prepareUserRetry(forCore, provider, call.forCore, first.generation);
      return await call.send(again.url, again.headers);
    } catch (error) {
      throw fromNative(error);
    }
  };
}

/** The SDK's `ElicitRequestURLParams`, structurally. */
export interface UrlElicitation {
  mode: 'url';
  message: string;
  url: string;
  elicitationId: string;
}

/**
 * The MCP SDK's `UrlElicitationRequiredError` (JSON-RPC `-32042`) for a `ConnectionRequiredError`,
 * built with the class the caller passes (the SDK ships CommonJS and ES module copies, and the
 * transport recognises only its own copy's class):
 *
 * ```ts
 * import { UrlElicitationRequiredError } from '@modelcontextprotocol/sdk/types.js';
 * try { ... } catch (e) { throw toUrlElicitationError(e, UrlElicitationRequiredError); }
 * ```
 *
 * Any other error is returned unchanged, so the call can sit in every `catch`.
 */
export function toUrlElicitationError<E extends Error>(
  error: unknown,
  ErrorClass: new (elicitations: UrlElicitation[], message?: string) => E,
): E | unknown {
  if (!(error instanceof ConnectionRequiredError) || !error.connectUrl || !error.elicitationId) return error;
  const message = error.message || `Connect ${error.provider ?? 'the provider'} to continue`;
  return new ErrorClass([{ mode: 'url', message, url: error.connectUrl, elicitationId: error.elicitationId }], message);
}
