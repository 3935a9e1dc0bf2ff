/**
 * Agent sessions: the shapes of `NexusClient.startSession` and `authorize`. The session itself
 * (its token, renewal at 80 % of its lifetime, its own namespace in the token cache) lives in
 * the Rust core; the token is never handed to JavaScript.
 */

export interface StartSessionOptions {
  /** Requested scopes; empty or absent = every scope the agent declared. */
  scopes?: string[];
  /** Requested lifetime in seconds (the gateway caps it at the agent's maximum). */
  ttlSeconds?: number;
  /** On-Behalf-Of: the user's token (a JWT of a trusted issuer). */
  onBehalfOf?: string;
  /** Authenticate the start with this agent credential (`nxa_…`) instead of the API key. */
  agentCredential?: string;
}

export interface Session {
  readonly sessionId: string;
  readonly expiresIn: number;
  readonly expiresAt: string;
  /** The granted scopes. */
  readonly scopes: readonly string[];
  readonly agentId: string;
  /** The agent id, or the user for On-Behalf-Of. */
  readonly sub: string;
  /** On-Behalf-Of: the acting agent's id. */
  readonly act: string | undefined;
}

export interface Authorization {
  readonly allowed: boolean;
  readonly scope: string;
  readonly sessionId: string;
}

/** @internal */
export function toSession(n: {
  sessionId: string;
  expiresIn: number;
  expiresAt: string;
  scopes: string[];
  agentId: string;
  sub: string;
  act?: string | null;
}): Session {
  return Object.freeze({
    sessionId: n.sessionId,
    expiresIn: n.expiresIn,
    expiresAt: n.expiresAt,
    scopes: Object.freeze([...n.scopes]),
    agentId: n.agentId,
    sub: n.sub,
    act: n.act ?? undefined,
  });
}
