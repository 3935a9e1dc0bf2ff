// A pure-JavaScript client of the same algorithm as the SDK, for the benchmark only: a Map
// cache keyed by (workspace, provider) with the 30 s safety buffer, single-flight misses, one
// `GET /v1/resolve`, the `oauth2`/`header` strategies, and a fetcher with the 401 retry.
// It is the baseline the native-backed SDK is measured against (BENCHMARKS.md, "## Node").

const SAFETY_BUFFER_MS = 30_000;
const DEFAULT_TTL_MS = 300_000;

export class PureNexusClient {
  constructor({ gatewayUrl, apiKey }) {
    this.gatewayUrl = gatewayUrl.replace(/\/+$/, '');
    this.apiKey = apiKey;
    this.cache = new Map();
    this.inflight = new Map();
  }

  async getToken(workspaceId, provider, force = false) {
    const key = `${workspaceId}\u0000${provider}`;
    if (!force) {
      const hit = this.cache.get(key);
      if (hit !== undefined && performance.now() + SAFETY_BUFFER_MS < hit.validUntil) return hit.token;
    }
    let flight = this.inflight.get(key);
    if (flight === undefined) {
      flight = this.resolve(workspaceId, provider, force).finally(() => this.inflight.delete(key));
      this.inflight.set(key, flight);
    }
    const entry = await flight;
    this.cache.set(key, entry);
    return entry.token;
  }

  async resolve(workspaceId, provider, force) {
    const url = new URL(`${this.gatewayUrl}/v1/resolve`);
    url.searchParams.set('workspace_id', workspaceId);
    url.searchParams.set('provider_name', provider);
    if (force) url.searchParams.set('force_refresh', 'true');
    const received = performance.now();
    const r = await fetch(url, { headers: { authorization: `Bearer ${this.apiKey}`, accept: 'application/json' } });
    const body = await r.json();
    if (!r.ok) throw new Error(`${body.error}: ${body.message}`);
    let ttlMs = DEFAULT_TTL_MS;
    if (typeof body.expires_in === 'number') ttlMs = body.expires_in * 1000;
    else if (typeof body.expires_at === 'string') ttlMs = Math.max(0, Date.parse(body.expires_at) - Date.now());
    return { token: body, validUntil: received + ttlMs };
  }

  createFetcher({ workspaceId, provider }) {
    const send = async (input, init, force) => {
      const token = await this.getToken(workspaceId, provider, force);
      const config = token.strategy?.config ?? {};
      const headers = new Headers(init?.headers);
      const field = config.credential_field ?? (token.strategy.type === 'oauth2' ? 'access_token' : 'api_key');
      const value = token.credentials?.[field] ?? token.access_token;
      headers.set(config.header_name ?? 'Authorization', `${config.value_prefix ?? 'Bearer '}${value}`);
      return fetch(input, { ...init, headers });
    };
    return async (input, init) => {
      const response = await send(input, init, false);
      if (response.status !== 401) return response;
      await response.body?.cancel();
      return send(input, init, true);
    };
  }
}
