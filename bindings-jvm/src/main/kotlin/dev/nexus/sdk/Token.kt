package dev.nexus.sdk

import dev.nexus.sdk.ffi.NativeCacheStats
import dev.nexus.sdk.ffi.NativeToken
import dev.nexus.sdk.ffi.NativeTokenCache
import java.time.Duration
import java.time.Instant

/**
 * A thread-safe token cache keyed by (workspace, provider), with single-flight misses: N
 * concurrent misses for one key make exactly one gateway call (the core's cache). Share one
 * cache per process; close it when done (or let it be collected).
 */
class TokenCache internal constructor(
    safetyBuffer: Duration?,
    /** What hits compare deadlines with: the process's [CoarseClock], a test's own. */
    clock: CoarseClock,
) : AutoCloseable {
    @JvmOverloads
    constructor(
        /** A token is not served in its last [safetyBuffer] (default 30 s). */
        safetyBuffer: Duration? = null,
    ) : this(safetyBuffer, CoarseClock.SYSTEM)

    internal val native = NativeTokenCache(safetyBuffer?.toMillis()?.toULong())

    /** The JVM's copies of recent hits, so that a hit makes no native call (see [HeldHits]). */
    internal val held = HeldHits(clock)

    val size: Long get() = native.len().toLong()

    fun clear() = held.writing { native.clear() }

    /** Counters of the slow path: misses, gateway fetches started, misses that joined a flight. */
    fun stats(): CacheStats = native.stats().let(::CacheStats)

    override fun close() = held.writing { native.close() }
}

/** Counters of a [TokenCache]'s slow path. */
class CacheStats internal constructor(stats: NativeCacheStats) {
    val misses: Long = stats.misses.toLong()
    val fetches: Long = stats.fetches.toLong()
    val joined: Long = stats.joined.toLong()

    override fun toString() = "CacheStats(misses=$misses, fetches=$fetches, joined=$joined)"
}

/**
 * A resolved credential. `toString()` never shows its value.
 */
class Token internal constructor(internal val native: NativeToken) {
    /** The access token, for strategies that have one (OAuth2, bearer). */
    val accessToken: String? get() = native.accessToken()
    val tokenType: String get() = native.tokenType()
    val scopes: List<String> get() = native.scopes()
    val apiBaseUrl: String? get() = native.apiBaseUrl()
    val connectionId: String? get() = native.connectionId()
    val expiresAt: Instant? get() = native.expiresAt()?.let(Instant::parse)
    val secondsRemaining: Long? get() = native.secondsRemaining()?.toLong()

    /** Identifies this resolve: a replaced (refreshed) token has another generation. */
    val generation: Long = native.generation().toLong()

    /**
     * The core's request-independent injection of this token, once asked ([NexusInterceptor]);
     * it dies with this object, which is served only while the core would serve the token.
     */
    @Volatile
    internal var injection: HeldInjection? = null

    override fun toString() = "Token(type=$tokenType, generation=$generation, value=[redacted])"
}
