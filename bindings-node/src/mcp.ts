/**
 * Protect a remote (streamable HTTP) MCP server with Nexus as its authorization server.
 *
 * The token checks (signature via the authorization server's JWKS, cached and refetched on key
 * rotation; `iss`; `aud` = this server; `exp`/`nbf`; scopes), the `WWW-Authenticate` challenges
 * and the RFC 9728 metadata document are the Rust core's; this module moves them in and out of
 * Node's HTTP objects and the official `@modelcontextprotocol/sdk` hooks.
 *
 * ```ts
 * const guard = createResourceServer({ resource, issuer, requiredScopes: ['notes:read'],
 *   toolScopes: { write_note: ['notes:write'] } });
 * app.use(express.json());
 * app.use(guard.middleware());            // metadata + 401/403 + req.auth
 * // in a tool: const user = mcpUser(extra.authInfo);
 * ```
 *
 * `middleware()` reads the tool name of a `tools/call` from `req.body` (parsed JSON), so put it
 * after `express.json()`. Nothing here writes to stdout.
 *
 * Calling an upstream as the MCP user: give the guard a `client` (the workspace's `NexusClient`);
 * in a tool, `guard.userFetcher(extra.authInfo, 'github')` is a `fetch` with that user's own
 * credential and `guard.userCredential(extra.authInfo, 'github')` the credential itself. When the
 * user has not connected the provider they reject with `ConnectionRequiredError`, which
 * `toUrlElicitationError(err, UrlElicitationRequiredError)` turns into the URL elicitation
 * (`-32042`) with a connect link bound to that user.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NexusClient } from './client.js';
import { InvalidRequestError } from './errors.js';
import { native } from './native.js';
import { userCredential, userFetcher } from './mcp_upstream.js';
import type * as Generated from '../native/index.js';
import type { Credential, Fetcher, ResolveOptions } from './types.js';

export { toUrlElicitationError } from './mcp_upstream.js';
export type { UrlElicitation } from './mcp_upstream.js';

export interface ResourceServerOptions {
  /** This server's public URL including the path (`https://notes.example.com/mcp`). */
  resource: string;
  /** The Nexus authorization server (the broker's public URL): tokens' `iss`. */
  issuer: string;
  /** Where its keys are; default `{issuer}/as/jwks`. */
  jwksUrl?: string;
  /** Scopes every request needs (also what a 401 tells clients to ask for). */
  requiredScopes?: string[];
  /** Extra scopes per tool name. */
  toolScopes?: Record<string, string[]>;
  /** Listed in the metadata; default: the required scopes and every tool's. */
  scopesSupported?: string[];
  resourceName?: string;
  /** The workspace's client (its API key): needed for `userCredential` and `userFetcher`. */
  client?: NexusClient;
}

/** The user (and client) a valid access token speaks for. */
export interface McpUser {
  /** `sub`: the Nexus user id (`usr_…`). */
  subject: string;
  workspaceId: string;
  clientId: string;
  scopes: string[];
  /** `exp`, seconds since the epoch. */
  expiresAt: number;
  issuer: string;
  resource: string;
  /** `act.sub`: the Nexus agent the client acts for. */
  actor: string | null;
  grantId: string | null;
  tokenId: string | null;
  /** The access token (presented back to Nexus for this user's upstream credential). */
  token: string;
}

/** A refusal, ready to send. */
export interface Challenge {
  status: number;
  /** Empty for a 503 (keys unavailable). */
  wwwAuthenticate: string;
  body: string;
  /** `missing_token`, `insufficient_scope`, `keys_unavailable`, or why the token is invalid. */
  reason: string;
  error: string | null;
  requiredScopes: string[];
}

/** The MCP SDK's `AuthInfo`, structurally (so this module does not import the SDK). */
export interface McpAuthInfo {
  token: string;
  clientId: string;
  scopes: string[];
  expiresAt?: number;
  resource?: URL;
  extra?: Record<string, unknown>;
}

function toUser(u: Generated.NativeMcpUser): McpUser {
  return {
    subject: u.subject,
    workspaceId: u.workspaceId,
    clientId: u.clientId,
    scopes: u.scopes,
    expiresAt: u.expiresAt,
    issuer: u.issuer,
    resource: u.resource,
    actor: u.actor ?? null,
    grantId: u.grantId ?? null,
    tokenId: u.tokenId ?? null,
    token: u.token,
  };
}

function outcome(d: Generated.NativeDecision): McpUser | Challenge {
  if (d.allowed && d.user) return toUser(d.user);
  return {
    status: d.status ?? 401,
    wwwAuthenticate: d.wwwAuthenticate ?? '',
    body: d.body ?? '',
    reason: d.reason ?? 'invalid_token',
    error: d.error ?? null,
    requiredScopes: d.requiredScopes ?? [],
  };
}

export function isChallenge(value: McpUser | Challenge): value is Challenge {
  return 'wwwAuthenticate' in value;
}

/** The `AuthInfo` the MCP SDK's transports hand to tools as `extra.authInfo`. */
export function toAuthInfo(user: McpUser): McpAuthInfo {
  return {
    token: user.token,
    clientId: user.clientId,
    scopes: user.scopes,
    expiresAt: user.expiresAt,
    resource: new URL(user.resource),
    extra: { nexusUser: { ...user, token: undefined } },
  };
}

/** The calling user, inside a tool (`extra.authInfo`), or `null` without one. */
export function mcpUser(authInfo: McpAuthInfo | undefined): McpUser | null {
  const stored = authInfo?.extra?.['nexusUser'] as Omit<McpUser, 'token'> | undefined;
  if (!authInfo || !stored) return null;
  return { ...stored, token: authInfo.token };
}

/** The tools a JSON-RPC body calls (`tools/call` names). */
function toolsCalled(body: unknown): string[] {
  const messages = Array.isArray(body) ? body : [body];
  const names: string[] = [];
  for (const message of messages) {
    if (typeof message !== 'object' || message === null) continue;
    const m = message as { method?: unknown; params?: { name?: unknown } };
    const name = m.method === 'tools/call' ? m.params?.name : undefined;
    if (typeof name === 'string' && !names.includes(name)) names.push(name);
  }
  return names;
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string>): void {
  res.writeHead(status, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(body);
}

type Next = (error?: unknown) => void;
type Request = IncomingMessage & { body?: unknown; auth?: McpAuthInfo; path?: string };

export class ResourceServer {
  readonly #native: Generated.NativeResourceServer;
  readonly #client: NexusClient | undefined;

  constructor(options: ResourceServerOptions) {
    const { client, ...forNative } = options;
    this.#native = new native.NativeResourceServer(forNative);
    this.#client = client;
  }

  /** The user of `authInfo` and the client, or a clear error when either is missing. */
  #upstream(authInfo: McpAuthInfo | undefined): [NexusClient, McpUser] {
    if (this.#client === undefined) {
      throw new InvalidRequestError('invalid_request', 'createResourceServer({ client }) is needed to call upstreams as the MCP user', { kind: 'invalid_input' });
    }
    const user = mcpUser(authInfo);
    if (user === null) {
      throw new InvalidRequestError('invalid_request', 'no Nexus-authenticated MCP user in this request (pass extra.authInfo)', { kind: 'invalid_input' });
    }
    return [this.#client, user];
  }

  /**
   * The calling user's own credential for `provider` (`extra.authInfo` inside a tool), through
   * the core's per-user cache. Rejects with `ConnectionRequiredError` when the user has no usable
   * connection (see `toUrlElicitationError`).
   */
  async userCredential(authInfo: McpAuthInfo | undefined, provider: string, options: ResolveOptions = {}): Promise<Credential> {
    const [client, user] = this.#upstream(authInfo);
    return userCredential(client, user, provider, options);
  }

  /** A `fetch` that sends every request with the calling user's credential for `provider`. */
  userFetcher(authInfo: McpAuthInfo | undefined, provider: string): Fetcher {
    const [client, user] = this.#upstream(authInfo);
    return userFetcher(client, user, provider);
  }

  /** This server's resource URL (the normal form tokens' `aud` must equal). */
  get resource(): string {
    return this.#native.resource;
  }

  get metadataPath(): string {
    return this.#native.metadataPath;
  }

  get metadataUrl(): string {
    return this.#native.metadataUrl;
  }

  /** The RFC 9728 protected-resource metadata. */
  metadataDocument(): Record<string, unknown> {
    return JSON.parse(this.#native.metadataJson()) as Record<string, unknown>;
  }

  /** Decide one request from its `Authorization` header and the tool it calls. */
  async authenticate(authorization: string | undefined, tool?: string): Promise<McpUser | Challenge> {
    return outcome(await this.#native.authenticate(authorization ?? null, tool ?? null));
  }

  /** Check a bare token (no scope check). */
  async verifyToken(token: string): Promise<McpUser | Challenge> {
    return outcome(await this.#native.verifyToken(token));
  }

  /**
   * Connect/express middleware: serves the metadata, answers 401/403 with the challenge, or
   * sets `req.auth` (the SDK's `AuthInfo`, which its transport hands to tools) and continues.
   */
  middleware(): (req: Request, res: ServerResponse, next: Next) => void {
    return (req, res, next) => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (path === this.metadataPath && (req.method === 'GET' || req.method === 'HEAD')) {
        send(res, 200, this.#native.metadataJson(), { 'access-control-allow-origin': '*' });
        return;
      }
      const authorization = req.headers.authorization;
      const tools = req.method === 'POST' ? toolsCalled(req.body) : [];
      const decide = async (): Promise<McpUser | Challenge> => {
        let last: McpUser | Challenge | undefined;
        for (const tool of tools.length > 0 ? tools : [undefined]) {
          last = await this.authenticate(authorization, tool);
          if (isChallenge(last)) break;
        }
        return last as McpUser | Challenge;
      };
      decide().then(
        (result) => {
          if (isChallenge(result)) {
            const headers: Record<string, string> = {};
            if (result.wwwAuthenticate) headers['www-authenticate'] = result.wwwAuthenticate;
            send(res, result.status, result.body, headers);
            return;
          }
          req.auth = toAuthInfo(result);
          next();
        },
        (error: unknown) => next(error),
      );
    };
  }

  /**
   * The SDK's `OAuthTokenVerifier`, for `requireBearerAuth({ verifier })`:
   *
   * ```ts
   * import * as authErrors from '@modelcontextprotocol/sdk/server/auth/errors.js';
   * app.use('/mcp', requireBearerAuth({ verifier: guard.verifier(authErrors) }));
   * ```
   *
   * A refused token throws the SDK's `InvalidTokenError`, which the caller passes in: the SDK
   * ships a CommonJS and an ES module copy, and its middleware recognises (`instanceof`) only the
   * class of the copy it was loaded from, so this module cannot load one itself. The SDK's
   * middleware checks one scope list for every request and its 401 has no `scope`; `middleware()`
   * gives per-tool scopes and step-up.
   */
  verifier(errors: { InvalidTokenError: new (message: string) => Error }): {
    verifyAccessToken(token: string): Promise<McpAuthInfo>;
  } {
    return {
      verifyAccessToken: async (token: string): Promise<McpAuthInfo> => {
        const result = await this.verifyToken(token);
        if (isChallenge(result)) {
          // Not the token's fault: the SDK answers any other error with a 500, not a 401.
          if (result.reason === 'keys_unavailable') throw new Error('the authorization server keys are unavailable');
          throw new errors.InvalidTokenError(`access token refused: ${result.reason}`);
        }
        return toAuthInfo(result);
      },
    };
  }
}

/** A protected resource (see the module documentation). */
export function createResourceServer(options: ResourceServerOptions): ResourceServer {
  return new ResourceServer(options);
}
