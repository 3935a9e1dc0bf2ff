/**
 * The error classes of the SDK, and the one place where a native (Rust core) error becomes one.
 *
 * Every failure is a {@link NexusError} with a stable `code`, the same string the Python and Go
 * SDKs report: a protocol error code from the gateway (`reauth_required`, `rate_limited`, …) or
 * one of the SDK's own kinds (`missing_credential_field`, `connection_error`, …). Subclasses let
 * callers `catch` by class; `code` lets them switch on a string.
 */

/** The coarse category of an error, as the core reports it. */
export type NexusErrorKind =
  | 'api'
  | 'strategy'
  | 'invalid_input'
  | 'transport'
  | 'invalid_response'
  | 'connection';

export interface NexusErrorDetails {
  kind?: NexusErrorKind;
  /** The HTTP status the gateway answered with, when there was an answer. */
  statusCode?: number;
  /** The gateway's request id, for support tickets and log correlation. */
  requestId?: string;
  reauthUrl?: string;
  retryAfterMs?: number;
  connectionStatus?: string;
  /** `connection_required`: the provider, why (`missing` or `reauth_required`), the link, its id. */
  provider?: string;
  reason?: string;
  connectUrl?: string;
  elicitationId?: string;
  cause?: unknown;
}

/** Base class of every error the SDK throws. Messages never contain a secret. */
export class NexusError extends Error {
  override name = 'NexusError';
  /** Stable error string shared by every Nexus SDK. */
  readonly code: string;
  readonly kind: NexusErrorKind;
  /** The HTTP status of the gateway's answer; `undefined` when there was none. */
  readonly statusCode: number | undefined;
  readonly requestId: string | undefined;

  constructor(code: string, message: string, details: NexusErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.kind = details.kind ?? kindOfCode(code);
    this.statusCode = details.statusCode;
    this.requestId = details.requestId;
  }
}

// --- Protocol errors (the gateway's `{"error": code}` envelope) --------------------------------

/** 400, or a malformed request handed to the SDK (unparsable URL, bad header). */
export class InvalidRequestError extends NexusError {
  override name = 'InvalidRequestError';
}
/** 401: the API key is missing, unknown, revoked or expired. */
export class UnauthorizedError extends NexusError {
  override name = 'UnauthorizedError';
}
/** 403: the caller may not do this (e.g. another workspace). */
export class ForbiddenError extends NexusError {
  override name = 'ForbiddenError';
}
/** 404: no such route or resource. */
export class NotFoundError extends NexusError {
  override name = 'NotFoundError';
}
/** 404: the workspace has no connection for this provider / connection id. */
export class ConnectionNotFoundError extends NotFoundError {
  override name = 'ConnectionNotFoundError';
}
/** 404: no provider of that name. */
export class ProviderNotFoundError extends NotFoundError {
  override name = 'ProviderNotFoundError';
}
/** 409: a person must authorize the connection again, at `reauthUrl` when the gateway knows it. */
export class ReauthRequiredError extends NexusError {
  override name = 'ReauthRequiredError';
  readonly reauthUrl: string | undefined;
  constructor(code: string, message: string, details: NexusErrorDetails = {}) {
    super(code, message, details);
    this.reauthUrl = details.reauthUrl;
  }
}
/** 409: the connection exists but is not usable yet (`pending`). */
export class ConnectionNotActiveError extends NexusError {
  override name = 'ConnectionNotActiveError';
}
/** 413: the request body or headers are too large (an invalid request, hence the parent). */
export class PayloadTooLargeError extends InvalidRequestError {
  override name = 'PayloadTooLargeError';
}
/** 408: the request body stopped arriving before the server's body timeout. */
export class RequestTimeoutError extends NexusError {
  override name = 'RequestTimeoutError';
}
/** 429: slow down; `retryAfterMs` says for how long when the gateway said so. */
export class RateLimitedError extends NexusError {
  override name = 'RateLimitedError';
  readonly retryAfterMs: number | undefined;
  constructor(code: string, message: string, details: NexusErrorDetails = {}) {
    super(code, message, details);
    this.retryAfterMs = details.retryAfterMs;
  }
}
/** 502/503: the provider (or the broker) could not be reached or failed. */
export class UpstreamUnavailableError extends NexusError {
  override name = 'UpstreamUnavailableError';
}
/** 403: a session asked for a scope its agent did not declare. */
export class ScopeNotAllowedError extends ForbiddenError {
  override name = 'ScopeNotAllowedError';
}
/** 403: an On-Behalf-Of user lacks the scope. */
export class UserNotAuthorizedForScopeError extends ForbiddenError {
  override name = 'UserNotAuthorizedForScopeError';
}
/** 401: the user token given for On-Behalf-Of is invalid, expired or untrusted. */
export class InvalidSubjectTokenError extends UnauthorizedError {
  override name = 'InvalidSubjectTokenError';
}
// Proxy mode (issue 16).
/** 403: the agent session holds no scope whose proxy rule allows this call. */
export class InsufficientScopeError extends ForbiddenError {
  override name = 'InsufficientScopeError';
}
/** 400: the proxied path was refused (traversal, bad or double encoding). */
export class InvalidProxyPathError extends InvalidRequestError {
  override name = 'InvalidProxyPathError';
}
/** 400: `Nexus-Proxy-Host` is not in the provider's `proxy.allowed_hosts`. */
export class ProxyHostNotAllowedError extends InvalidRequestError {
  override name = 'ProxyHostNotAllowedError';
}
/** 404: the provider has no `api_base_url` or its proxy is disabled. */
export class ProxyNotEnabledError extends NotFoundError {
  override name = 'ProxyNotEnabledError';
}
/** 504: the upstream sent no response headers within the proxy timeout. */
export class UpstreamTimeoutError extends UpstreamUnavailableError {
  override name = 'UpstreamTimeoutError';
}
// MCP authorization (issue 17).
/**
 * 409: the MCP user has no usable connection to `provider` (`reason` `missing`, or
 * `reauth_required`). `connectUrl` is a Nexus page bound to that user (they log in there; it is
 * not a pre-authenticated link): an MCP server hands it to the client as a URL elicitation
 * (`toUrlElicitationError` in `@nexus/sdk/mcp`).
 */
export class ConnectionRequiredError extends NexusError {
  override name = 'ConnectionRequiredError';
  readonly provider: string | undefined;
  readonly reason: string | undefined;
  readonly connectUrl: string | undefined;
  readonly elicitationId: string | undefined;
  constructor(code: string, message: string, details: NexusErrorDetails = {}) {
    super(code, message, details);
    this.provider = details.provider;
    this.reason = details.reason;
    this.connectUrl = details.connectUrl;
    this.elicitationId = details.elicitationId;
  }
}
/** 500: a server fault (also any error code this SDK version does not know). */
export class InternalServerError extends NexusError {
  override name = 'InternalServerError';
}

// --- The SDK's own errors ------------------------------------------------------------------------

/**
 * The strategy or the credential cannot produce a safe request: `unknown_strategy`,
 * `invalid_strategy_config`, `missing_credential_field`, `invalid_credential_value`.
 */
export class StrategyError extends NexusError {
  override name = 'StrategyError';
}
/** The gateway could not be reached (`connection_error`) or did not answer in time (`timeout`). */
export class TransportError extends NexusError {
  override name = 'TransportError';
}
/** The gateway call did not complete within the client's timeout (`timeout`). */
export class NexusTimeoutError extends TransportError {
  override name = 'NexusTimeoutError';
}
/** The gateway answered something that is not protocol v1 (`invalid_response`). */
export class InvalidResponseError extends NexusError {
  override name = 'InvalidResponseError';
}
/** `waitForActive` saw the connection reach a state it will not leave by itself. */
export class ConnectionFailedError extends NexusError {
  override name = 'ConnectionFailedError';
  /** The connection's status: `needs_reauth`, `revoked` or `failed`. */
  readonly connectionStatus: string | undefined;
  readonly reauthUrl: string | undefined;
  constructor(code: string, message: string, details: NexusErrorDetails = {}) {
    super(code, message, details);
    this.connectionStatus = details.connectionStatus;
    this.reauthUrl = details.reauthUrl;
  }
}
/** `waitForActive` gave up: the deadline passed (`wait_aborted`). */
export class WaitAbortedError extends NexusError {
  override name = 'WaitAbortedError';
}

type ErrorClass = new (code: string, message: string, details?: NexusErrorDetails) => NexusError;

/**
 * @internal The one table code → kind → class: the core's (`nexus_sdk::error::ERROR_TABLE`,
 * also `error_classes` in tests/vectors/client_behaviour.json). test/errors.test.mjs fails when
 * the two differ. `invalid_request` is listed with its gateway kind; the core reports
 * `invalid_input` for the SDK's own refusals, with the same class.
 */
export const ERROR_TABLE: Readonly<Record<string, readonly [NexusErrorKind, ErrorClass]>> = {
  invalid_request: ['api', InvalidRequestError],
  unauthorized: ['api', UnauthorizedError],
  forbidden: ['api', ForbiddenError],
  not_found: ['api', NotFoundError],
  connection_not_found: ['api', ConnectionNotFoundError],
  provider_not_found: ['api', ProviderNotFoundError],
  reauth_required: ['api', ReauthRequiredError],
  connection_not_active: ['api', ConnectionNotActiveError],
  payload_too_large: ['api', PayloadTooLargeError],
  request_timeout: ['api', RequestTimeoutError],
  rate_limited: ['api', RateLimitedError],
  upstream_unavailable: ['api', UpstreamUnavailableError],
  scope_not_allowed: ['api', ScopeNotAllowedError],
  user_not_authorized_for_scope: ['api', UserNotAuthorizedForScopeError],
  invalid_subject_token: ['api', InvalidSubjectTokenError],
  internal_error: ['api', InternalServerError],
  insufficient_scope: ['api', InsufficientScopeError],
  invalid_proxy_path: ['api', InvalidProxyPathError],
  proxy_host_not_allowed: ['api', ProxyHostNotAllowedError],
  proxy_not_enabled: ['api', ProxyNotEnabledError],
  upstream_timeout: ['api', UpstreamTimeoutError],
  connection_required: ['api', ConnectionRequiredError],
  unknown_strategy: ['strategy', StrategyError],
  invalid_strategy_config: ['strategy', StrategyError],
  missing_credential_field: ['strategy', StrategyError],
  invalid_credential_value: ['strategy', StrategyError],
  connection_error: ['transport', TransportError],
  timeout: ['transport', NexusTimeoutError],
  invalid_response: ['invalid_response', InvalidResponseError],
  connection_failed: ['connection', ConnectionFailedError],
  wait_aborted: ['connection', WaitAbortedError],
};

/** @internal The class of a code the table does not list, by kind (a newer protocol code). */
export const CLASS_OF_KIND: Readonly<Record<NexusErrorKind, ErrorClass>> = {
  // A protocol code newer than this SDK: still a NexusError, with the code the gateway sent.
  api: InternalServerError,
  strategy: StrategyError,
  invalid_input: InvalidRequestError,
  transport: TransportError,
  invalid_response: InvalidResponseError,
  connection: ConnectionFailedError,
};

/** The table's row for `code` (own keys only: a code such as `constructor` is not a row). */
function rowOf(code: string): readonly [NexusErrorKind, ErrorClass] | undefined {
  return Object.prototype.hasOwnProperty.call(ERROR_TABLE, code) ? ERROR_TABLE[code] : undefined;
}

function kindOfCode(code: string): NexusErrorKind {
  return rowOf(code)?.[0] ?? 'api';
}

/** Build the right subclass for a stable `code`. */
export function errorForCode(code: string, message: string, details: NexusErrorDetails = {}): NexusError {
  const kind = details.kind ?? kindOfCode(code);
  const Class = rowOf(code)?.[1] ?? CLASS_OF_KIND[kind];
  return new Class(code, message, { ...details, kind });
}

/**
 * The native addon rejects with an `Error` whose message is `nexus:` followed by a JSON object
 * (napi's async errors carry only a status and a string, so the structure travels in the
 * string). This is the only function that reads that format.
 */
const NATIVE_PREFIX = 'nexus:';

interface NativeErrorPayload {
  kind: NexusErrorKind;
  code: string;
  message: string;
  status?: number;
  requestId?: string;
  reauthUrl?: string;
  retryAfterMs?: number;
  connectionStatus?: string;
  provider?: string;
  reason?: string;
  connectUrl?: string;
  elicitationId?: string;
}

/** Turn anything the native addon threw into a {@link NexusError}; other errors pass through. */
export function fromNative(error: unknown): unknown {
  if (error instanceof NexusError) return error;
  if (!(error instanceof Error)) return error;
  const payload = parseNativePayload(error.message);
  if (payload !== undefined) {
    return errorForCode(payload.code, payload.message, {
      kind: payload.kind,
      statusCode: payload.status,
      requestId: payload.requestId,
      reauthUrl: payload.reauthUrl,
      retryAfterMs: payload.retryAfterMs,
      connectionStatus: payload.connectionStatus,
      provider: payload.provider,
      reason: payload.reason,
      connectUrl: payload.connectUrl,
      elicitationId: payload.elicitationId,
    });
  }
  // napi's own argument checks ("Failed to convert …") mean the caller passed a wrong type.
  const status = (error as { code?: unknown }).code;
  if (status === 'InvalidArg' || status === 'StringExpected' || status === 'NumberExpected' || status === 'ObjectExpected') {
    return new InvalidRequestError('invalid_request', error.message, { kind: 'invalid_input', cause: error });
  }
  return error;
}

function parseNativePayload(message: string): NativeErrorPayload | undefined {
  if (!message.startsWith(NATIVE_PREFIX)) return undefined;
  try {
    const value: unknown = JSON.parse(message.slice(NATIVE_PREFIX.length));
    if (typeof value !== 'object' || value === null) return undefined;
    const v = value as Record<string, unknown>;
    if (typeof v['code'] !== 'string' || typeof v['message'] !== 'string') return undefined;
    return value as NativeErrorPayload;
  } catch {
    return undefined;
  }
}
