/**
 * `createFetcher`: a drop-in `fetch` that injects a Nexus credential.
 *
 * Per request: normalise the arguments exactly as `fetch` would, ask the core (through the native
 * `prepareHit`, or `prepareRequest` on a cache miss) which headers to send and what the final URL
 * is — the core owns the cache, the resolve call and all six strategies — then send with the
 * global `fetch` and return its real `Response` (so streaming, redirects and `signal` behave as
 * they always do). On an upstream 401 the core's 401 rule (`nexus_sdk::policy`, through the
 * native `prepareRetry`) replaces the rejected token, with one forced refresh shared by every
 * request it rejected, and the request is sent once more; that answer is returned as it is.
 */

import type { NexusClient } from './client.js';
import { fromNative } from './errors.js';
import { createProxyFetcher } from './proxy.js';
import { native, type NativeRequest } from './native.js';
import type { Fetcher, FetcherOptions } from './types.js';

/** What one attempt needs: the request as the core sees it, and how to send it. */
export interface PreparedCall {
  forCore: NativeRequest;
  /** `forCore.headers` as `name\nvalue\n…`, the form of the native hit path. */
  headerText: string;
  /** Send to the final URL with the complete headers the core returned; the real `Response`. */
  send(url: string, headers: [string, string][]): Promise<Response>;
}

export function createFetcher(client: NexusClient, options: FetcherOptions): Fetcher {
  if (options.mode === 'proxy') return createProxyFetcher(client, options);
  const { workspaceId, provider } = options;
  const logger = client.logger;
  const key = client.native.internKey(workspaceId, provider);

  /** The first attempt: the response, and the generation of the token it carried. */
  async function first(call: PreparedCall): Promise<[Response, number]> {
    // Hit path first: one synchronous native call looks the token up in the core's cache and
    // applies the strategy, with strings only (napi objects cost microseconds per property).
    // On a miss the core resolves (one gateway call shared by every concurrent miss).
    const { method, url, body } = call.forCore;
    const line = native.prepareHit(client.hot, key, method, url, call.headerText, body);
    if (line !== null) {
      const [generation, finalUrl, headers] = parseHit(line);
      return [await call.send(finalUrl, headers), generation];
    }
    const prepared = await client.native.prepareRequest(workspaceId, provider, call.forCore);
    return [await call.send(prepared.url, prepared.headers), prepared.generation];
  }

  return async function nexusFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    const call = await prepareCall(input, init);
    try {
      const [response, generation] = await first(call);
      if (response.status !== 401) return response;
      // The credential may have been revoked before its expiry: drop this answer and let the
      // core replace the token (a forced refresh at the provider), then try once more. The body
      // was buffered, so it replays.
      await response.body?.cancel().catch(() => undefined);
      logger.info('upstream answered 401; refreshing the credential and retrying once', { provider });
      const prepared = await client.native.prepareRetry(workspaceId, provider, call.forCore, generation);
      return await call.send(prepared.url, prepared.headers);
    } catch (error) {
      throw fromNative(error);
    }
  };
}

/**
 * `generation\nurl\nname\nvalue…` (see `prepare_hit` in src/client.rs) into the token's
 * generation, the URL and the header pairs.
 */
function parseHit(line: string): [number, string, [string, string][]] {
  const fields = line.split('\n');
  const headers: [string, string][] = [];
  for (let i = 2; i + 1 < fields.length; i += 2) headers.push([fields[i] as string, fields[i + 1] as string]);
  return [Number(fields[0]), fields[1] as string, headers];
}

function headerLines(pairs: [string, string][]): string {
  return pairs.map(([name, value]) => `${name}\n${value}`).join('\n');
}

/**
 * The caller's headers with their names as the caller wrote them: a `Headers` object lower-cases
 * names, and some upstreams (and MCP servers reading `Authorization` from a plain object) compare
 * them exactly; undici sends names as given. `normalised` is the same set after fetch's own
 * checks (it throws on a bad name or value first); names it holds that the caller did not write
 * (a body's default `Content-Type`) are appended. A `Headers` object given by the caller has
 * already lost the case: its names go as they are.
 */
function headersAsWritten(given: RequestInit['headers'], normalised: Headers): [string, string][] {
  const written: [string, string][] =
    given === undefined || given instanceof Headers
      ? []
      : Array.isArray(given)
        ? given.map(([name, value]) => [String(name), String(value).trim()])
        : Object.entries(given).map(([name, value]) => [name, String(value).trim()]);
  const seen = new Set(written.map(([name]) => name.toLowerCase()));
  for (const [name, value] of normalised) if (!seen.has(name)) written.push([name, value]);
  return written;
}

/**
 * Normalise `fetch`'s arguments. A URL without a body takes a fast path that keeps `init` as
 * given; anything else goes through `Request`, which applies fetch's own rules (the default
 * `Content-Type` of a string body, a `Request` input's body, signal and redirect mode), and the
 * body is buffered because signing strategies read it and a 401 retry resends it.
 */
export async function prepareCall(input: string | URL | Request, init: RequestInit | undefined): Promise<PreparedCall> {
  init?.signal?.throwIfAborted();
  if (!(input instanceof Request) && init?.body == null) {
    const method = normaliseMethod(init?.method ?? 'GET');
    const headers = headersAsWritten(init?.headers, new Headers(init?.headers));
    return {
      forCore: { method, url: String(input), headers },
      headerText: headerLines(headers),
      send: (finalUrl, finalHeaders) => fetch(finalUrl, { ...init, method, headers: finalHeaders }),
    };
  }

  const request = new Request(input, init);
  const body = request.body === null ? undefined : new Uint8Array(await request.arrayBuffer());
  const headers = headersAsWritten(init?.headers, request.headers);
  return {
    forCore: { method: request.method, url: request.url, headers, body },
    headerText: headerLines(headers),
    send: (finalUrl, finalHeaders) =>
      fetch(finalUrl, {
        method: request.method,
        headers: finalHeaders,
        body,
        signal: request.signal,
        redirect: request.redirect,
        keepalive: request.keepalive,
        integrity: request.integrity,
        referrerPolicy: request.referrerPolicy,
        credentials: request.credentials,
        mode: request.mode,
      }),
  };
}

const NORMALISED_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT']);

/** fetch's own rule: these six methods are upper-cased, any other is sent as written. */
function normaliseMethod(method: string): string {
  const upper = method.toUpperCase();
  return NORMALISED_METHODS.has(upper) ? upper : method;
}
