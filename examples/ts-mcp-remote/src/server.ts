/**
 * A remote (streamable HTTP) MCP server whose users sign in through Nexus.
 *
 * Nexus is the server's OAuth authorization server: a client that has never seen this server
 * gets a 401 pointing to its protected-resource metadata, discovers Nexus from it, registers,
 * sends its user through login and consent, and comes back with a token for this server only.
 * The Nexus SDK's resource-server kit checks every request's token (signature with Nexus's keys,
 * issuer, audience, expiry) and each tool's scopes; a tool then knows which user calls it.
 *
 * Tools: `whoami` and `list_notes` (scope `notes:read`), `write_note` (also `notes:write`: a
 * token without it gets a 403 `insufficient_scope`, and the client asks the user for more).
 * `list_repos` (also `repos:read`) calls the upstream API of a provider with the calling user's
 * *own* connection (their credential, applied by the SDK) and returns what the upstream
 * answered; a user who has not connected the provider gets the MCP URL elicitation (`-32042`)
 * with a Nexus connect link bound to them, and the client's retried call works once they have.
 * Notes live in memory, per user (the token's subject). Stateless streamable HTTP: one MCP
 * server and transport per request. Nothing is written to stdout.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  createResourceServer,
  mcpUser,
  toUrlElicitationError,
  type McpAuthInfo,
  type NexusClient,
  type ResourceServer,
} from '@dromos/nexus-sdk';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { UrlElicitationRequiredError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

export const REQUIRED_SCOPES = ['notes:read'];
export const TOOL_SCOPES = { write_note: ['notes:write'], list_repos: ['repos:read'] };

/** What `list_repos` needs: the workspace's client, and the provider whose API it calls. */
export interface UpstreamOptions {
  client?: NexusClient;
  /** Default `example`; its `api_base_url` is where, at `/user/repos`. */
  reposProvider?: string;
}
/** The largest JSON-RPC body read. */
const MAX_BODY_BYTES = 1024 * 1024;

function text(value: string): CallToolResult {
  return { content: [{ type: 'text', text: value }] };
}

function caller(authInfo: McpAuthInfo | undefined): string {
  const user = mcpUser(authInfo);
  if (user === null) throw new Error('no authenticated user (the guard runs before the transport)');
  return user.subject;
}

function notesServer(notes: Map<string, string[]>, guard: ResourceServer, upstream: UpstreamOptions): McpServer {
  const server = new McpServer({ name: 'notes', version: '0.1.0' });
  server.registerTool('whoami', { description: 'Who is calling: Nexus user, workspace, client.' }, (extra) => {
    const user = mcpUser(extra.authInfo);
    if (user === null) throw new Error('no authenticated user');
    return text(`${user.subject} ${user.workspaceId} ${user.clientId}`);
  });
  server.registerTool('list_notes', { description: "The calling user's notes." }, (extra) =>
    text(JSON.stringify(notes.get(caller(extra.authInfo)) ?? [])),
  );
  server.registerTool(
    'write_note',
    { description: 'Add a note (needs notes:write).', inputSchema: { text: z.string() } },
    ({ text: note }, extra) => {
      const subject = caller(extra.authInfo);
      const mine = notes.get(subject) ?? [];
      mine.push(note);
      notes.set(subject, mine);
      return text(`${mine.length} notes`);
    },
  );
  server.registerTool('list_repos', { description: "The calling user's repositories (their own connection)." }, async (extra) => {
    if (upstream.client === undefined) return text('list_repos is not configured (NEXUS_GATEWAY_URL, NEXUS_API_KEY)');
    const provider = upstream.reposProvider ?? 'example';
    try {
      const credential = await guard.userCredential(extra.authInfo, provider);
      const answer = await guard.userFetcher(extra.authInfo, provider)(`${credential.apiBaseUrl}/user/repos`);
      return text(`${answer.status} ${await answer.text()}`);
    } catch (error) {
      // No connection yet: the client shows the user a Nexus connect link (URL elicitation).
      throw toUrlElicitationError(error, UrlElicitationRequiredError);
    }
  });
  return server;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new RangeError('request body too large');
    chunks.push(chunk as Buffer);
  }
  return size === 0 ? undefined : (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
}

function fail(res: ServerResponse, status: number, error: string): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error }));
}

/** The HTTP server for `resource` (its public URL) behind the Nexus guard of `issuer`. */
export function createNotesServer(resource: string, issuer: string, upstream: UpstreamOptions = {}): Server {
  const guard = createResourceServer({
    resource,
    issuer,
    requiredScopes: REQUIRED_SCOPES,
    toolScopes: TOOL_SCOPES,
    resourceName: 'Notes',
    client: upstream.client,
  });
  const mcpPath = new URL(guard.resource).pathname;
  const notes = new Map<string, string[]>();
  const guarded = guard.middleware();
  const serveMcp = async (req: IncomingMessage & { body?: unknown }, res: ServerResponse): Promise<void> => {
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== mcpPath) return fail(res, 404, 'not_found');
    if (req.method !== 'POST') return fail(res, 405, 'method_not_allowed');
    const server = notesServer(notes, guard, upstream);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  };
  return createServer((req: IncomingMessage & { body?: unknown; auth?: McpAuthInfo }, res) => {
    const body = req.method === 'POST' ? readJson(req) : Promise.resolve(undefined);
    body.then(
      (parsed) => {
        req.body = parsed;
        // The guard answers the metadata and refusals itself; `next` runs for a good token.
        guarded(req, res, (error?: unknown) => {
          if (error !== undefined) return fail(res, 500, 'internal_error');
          serveMcp(req, res).catch(() => fail(res, 500, 'internal_error'));
        });
      },
      (error: unknown) => fail(res, error instanceof RangeError ? 413 : 400, 'bad_request'),
    );
  });
}
