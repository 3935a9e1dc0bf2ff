/**
 * The bridge: a WebSocket kept open with a Nexus credential (the Rust core's bridge).
 *
 * ```ts
 * import { NexusClient, openWebSocket } from '@dromos/nexus-sdk';
 * const ws = openWebSocket(nexus, { workspaceId, provider: 'chat', url: 'wss://chat.example/ws' });
 * ws.on('connect', () => void ws.send('hello'));
 * ws.on('message', (data) => handle(data));           // string (text) or Buffer (binary)
 * ws.on('disconnect', (info) => log(info.reason));    // the core reconnects by itself
 * ws.on('error', (err) => fail(err));                 // terminal: ReauthRequiredError, …
 * // or: for await (const event of ws) { … }
 * await ws.close();
 * ```
 *
 * Reconnects, backoff, refresh on a 401/403 handshake, keepalive and the proactive reconnect
 * are the core's (`docs/bridge.md`). Nothing is written to stdout.
 */

import { EventEmitter } from 'node:events';
import type { NexusClient } from './client.js';
import { fromNative } from './errors.js';
import { native } from './native.js';
import type * as Generated from '../native/index.js';

/** Options of {@link openWebSocket}; durations in milliseconds, absent = the core's default. */
export interface WebSocketBridgeOptions {
  workspaceId: string;
  provider: string;
  /** `ws://` or `wss://` URL of the upstream. */
  url: string;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  stableAfterMs?: number;
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  maxMessageSize?: number;
  writeTimeoutMs?: number;
  reconnectBeforeExpiry?: boolean;
  expiryMarginMs?: number;
  /** Extra handshake headers (the credential's own header wins on a clash). */
  headers?: Record<string, string>;
}

/** Why a connection ended. */
export interface DisconnectInfo {
  /** `closed_by_peer`, `error`, `credential_expiring` or `cancelled`. */
  reason: 'closed_by_peer' | 'error' | 'credential_expiring' | 'cancelled';
  /** The close code, for `closed_by_peer`. */
  code: number | undefined;
  /** The close reason or the error text. */
  detail: string | undefined;
}

/** One event of the async iterator. */
export type BridgeEvent =
  | { type: 'connect' }
  | { type: 'message'; data: string | Buffer }
  | { type: 'disconnect'; info: DisconnectInfo };

/** How long one native pull waits before checking again whether the bridge was closed. */
const POLL_MS = 250;

/**
 * A bridged WebSocket: an `EventEmitter` (`'connect'`, `'message'`, `'disconnect'`, `'error'`
 * for the terminal error, `'close'` once stopped) and an async iterator of {@link BridgeEvent}.
 */
export class WebSocketBridge extends EventEmitter {
  private readonly native: Generated.NativeWebSocketBridge;
  private stopped = false;
  private failure: unknown;
  private readonly done: Promise<void>;

  /** @internal Use {@link openWebSocket}. */
  constructor(handle: Generated.NativeWebSocketBridge) {
    super();
    this.native = handle;
    this.done = this.pump();
  }

  /** Whether a connection is open now. */
  get connected(): boolean {
    return this.native.connected;
  }

  /** Send text (`string`) or binary (`Uint8Array`) on the current connection. */
  async send(data: string | Uint8Array): Promise<void> {
    try {
      await this.native.send(typeof data === 'string' ? data : Buffer.from(data));
    } catch (error) {
      throw fromNative(error);
    }
  }

  /** Close with a normal close frame and stop reconnecting; resolves once stopped. */
  async close(): Promise<void> {
    await this.native.close();
    await this.done;
  }

  /** Resolves once the bridge has stopped after {@link close}; rejects with the terminal error
   * (`ReauthRequiredError`, `UnauthorizedError`, …) when the credential cannot be renewed. */
  async wait(): Promise<void> {
    await this.done;
    if (this.failure !== undefined) throw this.failure;
  }

  /** Events until the bridge stops; throws the terminal error, if any. */
  async *[Symbol.asyncIterator](): AsyncGenerator<BridgeEvent, void, undefined> {
    const queue: BridgeEvent[] = [];
    let failure: unknown = this.failure;
    let finished = this.stopped;
    let wake: (() => void) | undefined;
    const notify = (): void => {
      wake?.();
      wake = undefined;
    };
    const onConnect = (): void => { queue.push({ type: 'connect' }); notify(); };
    const onMessage = (data: string | Buffer): void => { queue.push({ type: 'message', data }); notify(); };
    const onDisconnect = (info: DisconnectInfo): void => { queue.push({ type: 'disconnect', info }); notify(); };
    const onError = (error: unknown): void => { failure = error; notify(); };
    const onClose = (): void => { finished = true; notify(); };
    this.on('connect', onConnect).on('message', onMessage).on('disconnect', onDisconnect);
    this.on('error', onError).on('close', onClose);
    try {
      for (;;) {
        const next = queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        if (failure !== undefined) throw failure;
        if (finished) return;
        await new Promise<void>((resolve) => { wake = resolve; });
      }
    } finally {
      this.off('connect', onConnect).off('message', onMessage).off('disconnect', onDisconnect);
      this.off('error', onError).off('close', onClose);
    }
  }

  /** Pull the core's events and re-emit them until the bridge stops. */
  private async pump(): Promise<void> {
    try {
      for (;;) {
        const event = await this.native.nextEvent(POLL_MS);
        if (event === null || event === undefined) continue;
        if (event.kind === 'stopped') break;
        this.dispatch(event);
      }
    } catch (error) {
      this.failure = fromNative(error);
      // An 'error' event without a listener would throw; `wait()` reports it in that case.
      if (this.listenerCount('error') > 0) this.emit('error', this.failure);
    } finally {
      this.stopped = true;
      this.emit('close');
    }
  }

  private dispatch(event: Generated.NativeBridgeEvent): void {
    switch (event.kind) {
      case 'connected':
        this.emit('connect');
        break;
      case 'message':
        this.emit('message', event.text ?? event.binary ?? '');
        break;
      case 'disconnected':
        this.emit('disconnect', {
          reason: event.reason as DisconnectInfo['reason'],
          code: event.code ?? undefined,
          detail: event.detail ?? undefined,
        } satisfies DisconnectInfo);
        break;
      default:
        break;
    }
  }
}

/** Start bridging `options.url` with the credential of (workspaceId, provider). */
export function openWebSocket(client: NexusClient, options: WebSocketBridgeOptions): WebSocketBridge {
  const headers = options.headers === undefined ? undefined : Object.entries(options.headers);
  try {
    const handle = native.openWebSocket(client.native, options.workspaceId, options.provider, options.url, {
      minBackoffMs: options.minBackoffMs,
      maxBackoffMs: options.maxBackoffMs,
      stableAfterMs: options.stableAfterMs,
      pingIntervalMs: options.pingIntervalMs,
      pingTimeoutMs: options.pingTimeoutMs,
      maxMessageSize: options.maxMessageSize,
      writeTimeoutMs: options.writeTimeoutMs,
      reconnectBeforeExpiry: options.reconnectBeforeExpiry,
      expiryMarginMs: options.expiryMarginMs,
      headers,
    });
    return new WebSocketBridge(handle);
  } catch (error) {
    throw fromNative(error);
  }
}
