#!/usr/bin/env node
/**
 * Run the notes server. Environment: `NEXUS_ISSUER` (the Nexus broker's public URL),
 * `MCP_RESOURCE` (this server's public URL with its path, registered with
 * `nexus mcp resources add`), `HOST`/`PORT` (default 127.0.0.1 / the resource's port), and
 * for `list_repos` `NEXUS_GATEWAY_URL`/`NEXUS_API_KEY` (the workspace's) and `REPOS_PROVIDER`.
 */

import { NexusClient } from '@dromos/nexus-sdk';
import { createNotesServer } from './server.js';

const resource = process.env['MCP_RESOURCE'];
const issuer = process.env['NEXUS_ISSUER'];
if (!resource || !issuer) {
  console.error('nexus-example-ts-mcp-remote: MCP_RESOURCE and NEXUS_ISSUER are required');
  process.exit(2);
}
const port = Number(process.env['PORT'] || new URL(resource).port || 8000);
const gatewayUrl = process.env['NEXUS_GATEWAY_URL'];
const apiKey = process.env['NEXUS_API_KEY'];
const client = gatewayUrl && apiKey ? new NexusClient({ gatewayUrl, apiKey }) : undefined;
createNotesServer(resource, issuer, { client, reposProvider: process.env['REPOS_PROVIDER'] }).listen(port, process.env['HOST'] || '127.0.0.1');
