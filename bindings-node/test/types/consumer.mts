// Compiled (never run) by `tsc -p test/tsconfig.json`: the public API as an ESM TypeScript user
// writes it, type-checked against the package's published declarations (dist/index.d.mts).
import {
  NexusClient,
  NexusError,
  ReauthRequiredError,
  RateLimitedError,
  consoleErrorLogger,
  type Credential,
  type Fetcher,
  type Logger,
} from '@dromos/nexus-sdk';

const logger: Logger = consoleErrorLogger('error');
const nexus = new NexusClient({
  gatewayUrl: 'http://127.0.0.1:1',
  apiKey: 'nxk_test',
  retryPolicy: { maxRetries: 1, initialBackoffMs: 50, maxBackoffMs: 500 },
  timeoutMs: 5_000,
  logger,
});

// The fetcher is assignable to `typeof fetch`'s call signature.
const fetcher: Fetcher = nexus.createFetcher({ workspaceId: 'w', provider: 'github' });
const asFetch: (input: string | URL | Request, init?: RequestInit) => Promise<Response> = fetcher;

export async function demo(signal: AbortSignal): Promise<void> {
  const response: Response = await asFetch(new URL('https://api.github.com/user'), { method: 'POST', body: '{}', signal });
  const token: Credential = await nexus.getToken('w', 'github');
  const fresh: Credential = await nexus.resolveToken('w', 'github', { forceRefresh: true, minTtlSeconds: 60 });
  nexus.clearToken('w', 'github');
  nexus.clearToken();
  const request = await nexus.requestConnection({ userId: 'u', provider: 'github', scopes: ['repo'] });
  const state = await nexus.waitForActive(request.connectionId, 1000, signal);
  const byId: Credential = await nexus.getTokenByConnectionId(request.connectionId);
  const refreshed: Credential = await nexus.refreshConnection(request.connectionId);
  void [response.status, token.accessToken, fresh.expiresAt, state.status, byId.scopes, refreshed.strategy.type];
  try {
    await nexus.checkConnection('c');
  } catch (error) {
    if (error instanceof ReauthRequiredError) void (error.reauthUrl satisfies string | undefined);
    if (error instanceof RateLimitedError) void (error.retryAfterMs satisfies number | undefined);
    if (error instanceof NexusError) void [error.code satisfies string, error.statusCode satisfies number | undefined];
  }
}
