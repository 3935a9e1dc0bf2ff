/**
 * Proxy mode (`createFetcher({ …, mode: 'proxy' })`, docs/proxy.md): the request goes to the
 * gateway's `/v1/proxy/{workspace}/{provider}/…`, which injects the credential, so this process
 * never holds it. The core (native `proxyPrepare`) builds the URL and supplies the Nexus
 * credential; the core (native `proxyCheckAnswer`) decides whether an answer is the gateway's
 * own (`Nexus-Error`, thrown as the typed error) or the upstream's (returned as it is, whatever
 * its status). No 401 retry (the gateway did it) and no redirect followed.
 */

import type { NexusClient } from './client.js';
import { InvalidRequestError, fromNative } from './errors.js';
import { native } from './native.js';
import type { Fetcher, FetcherOptions } from './types.js';

const REPLACED = native.proxyReplacedHeaders();

export function createProxyFetcher(client: NexusClient, options: FetcherOptions): Fetcher {
  const { workspaceId, provider, host } = options;
  return async function nexusProxyFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    if (typeof input !== 'string') {
      throw new InvalidRequestError(
        'invalid_request',
        "proxy mode takes a path relative to the provider's api_base_url, as a string ('/contacts/42')",
        { kind: 'invalid_input' },
      );
    }
    init?.signal?.throwIfAborted();
    try {
      const target = await client.native.proxyPrepare(workspaceId, provider, input, host ?? null);
      const headers = new Headers(init?.headers);
      for (const name of REPLACED) headers.delete(name);
      for (const [name, value] of target.headers) headers.set(name, value);
      const streamed = init?.body instanceof ReadableStream;
      const response = await fetch(target.url, {
        ...init,
        headers,
        redirect: 'manual',
        ...(streamed ? { duplex: 'half' } : {}),
      } as RequestInit);
      if (!response.headers.has('nexus-error')) return response;
      const body = new Uint8Array(await response.arrayBuffer());
      native.proxyCheckAnswer(response.status, [...response.headers], body);
      return response;
    } catch (error) {
      throw fromNative(error);
    }
  };
}
