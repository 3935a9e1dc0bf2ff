/**
 * `@dromos/nexus-sdk`: short-lived credentials for AI agents and MCP servers.
 *
 * ```ts
 * import { NexusClient } from '@dromos/nexus-sdk';
 * const nexus = new NexusClient({ gatewayUrl, apiKey });
 * const fetcher = nexus.createFetcher({ workspaceId, provider: 'github' });
 * const resp = await fetcher('https://api.github.com/user/repos?per_page=10');
 * ```
 *
 * The SDK never writes to stdout (it belongs to an MCP server's JSON-RPC).
 */

export { NexusClient } from './client.js';
export { openWebSocket, WebSocketBridge } from './bridge.js';
export type { BridgeEvent, DisconnectInfo, WebSocketBridgeOptions } from './bridge.js';
export {
  ConnectionFailedError,
  ConnectionNotActiveError,
  ConnectionNotFoundError,
  ConnectionRequiredError,
  ForbiddenError,
  InsufficientScopeError,
  InternalServerError,
  InvalidProxyPathError,
  InvalidRequestError,
  InvalidResponseError,
  InvalidSubjectTokenError,
  NexusError,
  NexusTimeoutError,
  NotFoundError,
  PayloadTooLargeError,
  ProviderNotFoundError,
  ProxyHostNotAllowedError,
  ProxyNotEnabledError,
  RateLimitedError,
  ReauthRequiredError,
  RequestTimeoutError,
  ScopeNotAllowedError,
  StrategyError,
  TransportError,
  UnauthorizedError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
  UserNotAuthorizedForScopeError,
  WaitAbortedError,
} from './errors.js';
export type { NexusErrorDetails, NexusErrorKind } from './errors.js';
export { consoleErrorLogger } from './logger.js';
export { createResourceServer, isChallenge, mcpUser, ResourceServer, toAuthInfo, toUrlElicitationError } from './mcp.js';
export type { Challenge, McpAuthInfo, McpUser, ResourceServerOptions, UrlElicitation } from './mcp.js';
export type { Authorization, Session, StartSessionOptions } from './session.js';
export type { LogLevel, Logger } from './logger.js';
export type {
  ConnectionRequest,
  ConnectionState,
  ConnectionStatus,
  Credential,
  Fetcher,
  FetcherOptions,
  NexusClientOptions,
  RequestConnectionOptions,
  ResolveOptions,
  RetryPolicy,
  StrategySpec,
} from './types.js';
