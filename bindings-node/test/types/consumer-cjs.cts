// Compiled (never run): the CommonJS face (dist/index.d.ts) resolves through `require`.
import sdk = require('@dromos/nexus-sdk');

const nexus: sdk.NexusClient = new sdk.NexusClient({ gatewayUrl: 'http://127.0.0.1:1', apiKey: 'k' });
export const fetcher: sdk.Fetcher = nexus.createFetcher({ workspaceId: 'w', provider: 'p' });
export const isNexusError = (e: unknown): e is sdk.NexusError => e instanceof sdk.NexusError;
