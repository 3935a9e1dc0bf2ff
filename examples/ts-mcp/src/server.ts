#!/usr/bin/env node
/**
 * An MCP server over stdio with one tool, `list_repos`, that lists the user's GitHub
 * repositories through the Nexus fetcher. The server never holds a GitHub token: the fetcher
 * asks the Nexus gateway for a short-lived one and injects it.
 *
 * stdout carries JSON-RPC and nothing else: the MCP SDK writes the protocol there, and every
 * diagnostic (ours and the Nexus SDK's) goes to stderr. A failure of the upstream or of Nexus
 * becomes a tool error result, never a crash and never a stray line on stdout.
 *
 * Environment:
 *   NEXUS_GATEWAY_URL, NEXUS_API_KEY, NEXUS_WORKSPACE_ID  where and as whom to ask Nexus
 *   NEXUS_PROVIDER    provider name in the workspace (default `github`)
 *   GITHUB_API_BASE   GitHub's API base URL (default `https://api.github.com`)
 */

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { NexusClient, NexusError, ReauthRequiredError } from '@dromos/nexus-sdk';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    console.error(`nexus-example-ts-mcp: ${name} is required`);
    process.exit(2);
  }
  return value;
}

const nexus = new NexusClient({
  gatewayUrl: requiredEnv('NEXUS_GATEWAY_URL'),
  apiKey: requiredEnv('NEXUS_API_KEY'),
  // An interactive tool should fail fast rather than keep the agent waiting.
  retryPolicy: { maxRetries: 1 },
});
const githubFetch = nexus.createFetcher({
  workspaceId: requiredEnv('NEXUS_WORKSPACE_ID'),
  provider: process.env['NEXUS_PROVIDER'] || 'github',
});
const apiBase = (process.env['GITHUB_API_BASE'] || 'https://api.github.com').replace(/\/+$/, '');

const server = new McpServer({ name: 'nexus-example-ts-mcp', version: '0.1.0' });

server.registerTool(
  'list_repos',
  {
    title: 'List repositories',
    description: "List the authenticated user's GitHub repositories (first 10).",
  },
  async (): Promise<CallToolResult> => {
    try {
      const response = await githubFetch(`${apiBase}/user/repos?per_page=10`, {
        headers: { accept: 'application/vnd.github+json' },
      });
      if (!response.ok) {
        await response.body?.cancel();
        return toolError(`GitHub answered HTTP ${response.status}`);
      }
      const text = await response.text();
      let repos: unknown;
      try {
        repos = JSON.parse(text);
      } catch {
        return toolError('GitHub answered with a body that is not JSON');
      }
      return { content: [{ type: 'text', text: JSON.stringify(summarise(repos)) }] };
    } catch (error) {
      return toolError(describe(error));
    }
  },
);

/** Names and URLs when GitHub sent a list of repositories; anything else as it came. */
function summarise(repos: unknown): unknown {
  if (!Array.isArray(repos)) return repos;
  return repos.map((r: { full_name?: unknown; html_url?: unknown; private?: unknown }) => ({
    name: r.full_name,
    url: r.html_url,
    private: r.private,
  }));
}

function describe(error: unknown): string {
  if (error instanceof ReauthRequiredError) {
    const where = error.reauthUrl === undefined ? '' : ` at ${error.reauthUrl}`;
    return `The GitHub connection must be authorized again${where} (reauth_required)`;
  }
  if (error instanceof NexusError) return `Nexus: ${error.message} (${error.code})`;
  if (error instanceof Error) return `request failed: ${error.message}`;
  return 'request failed';
}

function toolError(message: string): CallToolResult {
  console.error(`list_repos: ${message}`);
  return { isError: true, content: [{ type: 'text', text: message }] };
}

async function main(): Promise<void> {
  const transport = new StdioServerTransport();
  await server.connect(transport);
  console.error('nexus-example-ts-mcp: serving on stdio');
}

main().catch((error: unknown) => {
  console.error('nexus-example-ts-mcp: fatal:', error);
  process.exit(1);
});
