package dev.nexus.sdk

import dev.nexus.sdk.ffi.NativeCacheHit
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicLong

/**
 * A version of something the JVM's copies of cache hits depend on (a cache's content, a client's
 * principal) that changes at the start *and* at the end of every call that may change it, and
 * tells whether such a call is in progress.
 *
 * Both ends count because the native change lands somewhere inside the call: a copy tagged
 * before the call dies at its start, one tagged during the call dies at its end, and none is
 * kept while a call is in progress ([settled]), so no copy can serve after the native side
 * changed (a hit that overlaps the call may still see the old state, as it could natively).
 */
internal class Versions {
    // Low 32 bits: changes started plus changes ended; high bits: changes in progress. One
    // atomic, so one volatile read tells both and the hit path stays a single load per tag.
    val state = AtomicLong()

    fun current(): Long = state.get()

    inline fun <T> changing(call: () -> T): T {
        state.addAndGet(BEGIN)
        try {
            return call()
        } finally {
            state.addAndGet(END)
        }
    }

    companion object {
        const val BEGIN = (1L shl 32) + 1
        const val END = 1 - (1L shl 32)

        /** Whether no change was in progress when [tag] was read (a copy may be kept under it). */
        fun settled(tag: Long): Boolean = tag ushr 32 == 0L
    }
}

/**
 * The JVM's copies of a [TokenCache]'s recent hits, so that a cache hit from Java or Kotlin is a
 * map lookup, a few volatile reads and comparisons: no native call, no allocation, and (but in
 * the last window of a copy's life) no clock read: the deadline is compared with the core's
 * coarse clock ([CoarseClock]).
 *
 * The policy stays in the core. A copy is made only from what the core served, and lives at most
 * as long as the core says it would keep serving that token (`usableForNanos`: the core's
 * freshness rule and safety buffer, measured after the JVM clock was read, so the JVM deadline
 * is never later than the core's; `coarseUntilMs`, the core's deadline minus its window on the
 * core's coarse clock, decides far from that deadline, see [CoarseClock]). It dies sooner on:
 * - any call through this SDK that may write to the native cache (invalidate, the 401 rule,
 *   the core's fetch, clear, close): [writes] changes;
 * - a change of the client's principal (an agent session started or closed, which changes the
 *   core's cache namespace): the copy is tagged with the client's principal [Versions].
 * Every tag is read *before* the native call that produced the copy, and no copy is kept when a
 * change was in progress then: a copy can be dropped too early, never served late.
 */
internal class HeldHits(val clock: CoarseClock) {
    private class Held(
        val token: Token,
        val writes: Long,
        val principal: Versions,
        val principalTag: Long,
        val usableUntil: Long,
        val coarseUntil: Double,
    )

    val writes = Versions()
    private val hits = ConcurrentHashMap<String, ConcurrentHashMap<String, Held>>()

    /** The held token for the key, if nothing it depends on changed since, and in time. */
    fun get(principal: Versions, workspaceId: String, provider: String): Token? {
        val held = hits[workspaceId]?.get(provider) ?: return null
        val current = held.writes == writes.current() &&
            held.principal === principal && held.principalTag == principal.current() &&
            clock.before(held.coarseUntil, held.usableUntil)
        return if (current) held.token else null
    }

    /**
     * The token of [hit], the answer of a native call made after [writesTag], [principalTag]
     * (of [principal]) and [clockBefore] ([clock]'s real reading) were read; held for later hits
     * when no change was in progress at that point.
     */
    fun keep(
        principal: Versions,
        principalTag: Long,
        writesTag: Long,
        clockBefore: Long,
        workspaceId: String,
        provider: String,
        hit: NativeCacheHit,
    ): Token {
        val token = Token(hit.token)
        if (Versions.settled(writesTag) && Versions.settled(principalTag)) {
            // Clamped so that the deadline arithmetic cannot wrap (a quarter of Long's range is
            // still ~73 years).
            val usableFor = minOf(hit.usableForNanos, (Long.MAX_VALUE / 4).toULong()).toLong()
            hits.computeIfAbsent(workspaceId) { ConcurrentHashMap() }[provider] =
                Held(token, writesTag, principal, principalTag, clockBefore + usableFor, hit.coarseUntilMs)
        }
        return token
    }

    /** Run [call], which may write to the native cache: every copy stops serving. */
    inline fun <T> writing(call: () -> T): T =
        try {
            writes.changing(call)
        } finally {
            dropAll()
        }

    /** The copies are stale already (the version changed); dropped so they are not kept alive. */
    fun dropAll() = hits.clear()
}
