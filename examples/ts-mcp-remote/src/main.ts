#!/usr/bin/env node
/**
 * Run the notes server. Environment: `NEXUS_ISSUER` (the Nexus broker's public URL),
 * `MCP_RESOURCE` (this server's public URL with its path, registered with
 * `nexus mcp resources add`), `HOST`/`PORT` (default 127.0.0.1 / the resource's port).
 */

import { createNotesServer } from './server.js';

const resource = process.env['MCP_RESOURCE'];
const issuer = process.env['NEXUS_ISSUER'];
if (!resource || !issuer) {
  console.error('nexus-example-ts-mcp-remote: MCP_RESOURCE and NEXUS_ISSUER are required');
  process.exit(2);
}
const port = Number(process.env['PORT'] || new URL(resource).port || 8000);
createNotesServer(resource, issuer).listen(port, process.env['HOST'] || '127.0.0.1');
