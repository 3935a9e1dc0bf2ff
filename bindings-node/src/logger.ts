/**
 * Logging for the SDK. stdout belongs to an MCP server's JSON-RPC, so the SDK never writes
 * there: the default logger prints to stderr (`console.error`) and only for warnings and errors,
 * which keeps the hot path (a cached `fetcher` call) silent.
 */

/** Where the SDK reports what it does. Every method is optional to call and must not throw. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

/** The level of the default logger: `NEXUS_LOG` (`debug`, `info`, `warn`, `error`, `silent`), else `warn`. */
function levelFromEnv(): LogLevel {
  const value = (process.env['NEXUS_LOG'] ?? '').toLowerCase();
  return value in RANK ? (value as LogLevel) : 'warn';
}

/**
 * A logger that writes one line per event to stderr. Fields are appended as JSON; callers never
 * put secrets in fields (the SDK passes only names, ids and status codes).
 */
export function consoleErrorLogger(level: LogLevel = levelFromEnv()): Logger {
  const threshold = RANK[level];
  const emit = (at: LogLevel, message: string, fields?: Record<string, unknown>): void => {
    if (RANK[at] < threshold) return;
    const suffix = fields === undefined ? '' : ` ${safeJson(fields)}`;
    console.error(`[nexus] ${at}: ${message}${suffix}`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

function safeJson(fields: Record<string, unknown>): string {
  try {
    return JSON.stringify(fields);
  } catch {
    return '{}';
  }
}

/** Wrap a caller's logger so that a throwing logger can never break a request. */
export function guardLogger(logger: Logger): Logger {
  const wrap =
    (fn: (m: string, f?: Record<string, unknown>) => void) =>
    (m: string, f?: Record<string, unknown>): void => {
      try {
        fn.call(logger, m, f);
      } catch {
        // A logger is an observer; its failure must not change what the SDK does.
      }
    };
  return {
    debug: wrap(logger.debug),
    info: wrap(logger.info),
    warn: wrap(logger.warn),
    error: wrap(logger.error),
  };
}
