package dev.nexus.sdk

import org.slf4j.LoggerFactory
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.locks.LockSupport
import java.util.function.LongSupplier

/**
 * Answers "is this deadline still ahead?" for the hit path ([HeldHits]) without a clock read per
 * hit: a daemon thread publishes `System.nanoTime()` every [TICK] into a volatile field, and a
 * hit compares its deadline with that value.
 *
 * The published value is a past reading, so it can only be behind the real clock: by the tick,
 * plus however late the ticker thread runs (scheduling, a GC pause). A deadline is therefore
 * taken as met on the published value only while it is more than [WINDOW] ahead of it; in its
 * last [WINDOW] (and whenever the ticker is not running) the hit reads the real clock, as it
 * did before. A copy is served past its deadline only if the ticker fell more than [WINDOW]
 * behind while a hit ran; the ticker checks its own lateness on every tick and, once it has been
 * more than [STALL_LIMIT] late, stops being trusted for the rest of the process (every hit reads
 * the real clock again). The expiry rule itself (safety buffer, min TTL) stays in the core: the
 * deadline compared here is the one the core handed over.
 */
internal class CoarseClock(
    private val source: LongSupplier,
    /**
     * Whether [start] runs a ticker thread. A test clock whose time the test moves by hand says
     * false and publishes through [tick]/[publish] itself: a real ticker over hand-moved time
     * would see every jump as a stall, stop trusting itself and read the source behind the
     * test's back, whenever the scheduler lets it.
     */
    private val runsTicker: Boolean = true,
) {
    /** The last published reading of [source]; meaningful only while [trusted]. */
    @Volatile
    private var published = 0L

    @Volatile
    private var trusted = false

    private val started = AtomicBoolean()

    /** The largest delay between two ticks seen so far, in ns (for the benchmark). */
    @Volatile
    var worstTickGap = 0L
        private set

    /** Whether the ticker thread was started. */
    internal val isStarted: Boolean get() = started.get()

    /** Whether the published value currently decides hits far from their deadline. */
    internal val isTrusted: Boolean get() = trusted

    /** Whether [deadline] (a reading of [source]) is still ahead. */
    fun before(deadline: Long): Boolean {
        // Both reads are plain loads on x86; `published` is written before `trusted` is set.
        if (trusted && published - (deadline - WINDOW) < 0) return true
        return source.asLong - deadline < 0
    }

    /** A reading of the real clock (what the copy's deadline is measured from). */
    fun precise(): Long = source.asLong

    /** The ticker thread, once started (for tests). */
    @Volatile
    internal var ticker: Thread? = null
        private set

    /** Start the ticker thread, once per clock; a no-op afterwards. */
    fun start() {
        if (!runsTicker || started.get() || !started.compareAndSet(false, true)) return
        val thread = Thread(::run, "nexus-coarse-clock")
        // A daemon: the clock never keeps the JVM alive. No context class loader: the thread
        // outlives whichever application thread happened to start it.
        thread.isDaemon = true
        thread.contextClassLoader = null
        ticker = thread
        thread.start()
    }

    private fun run() {
        try {
            var last = source.asLong
            published = last
            trusted = true
            // An interrupt ends the ticker (parkNanos would otherwise return at once, forever).
            while (!Thread.currentThread().isInterrupted) {
                LockSupport.parkNanos(TICK)
                if (!tick(last)) return
                last = published
            }
        } finally {
            // However the ticker ends (a stall, an interrupt, an error), the published value
            // stops deciding: it would only grow staler.
            trusted = false
        }
    }

    /**
     * One tick after a previous one at [last]: publish the clock, or stop trusting the ticker
     * (returns false) when it ran more than [STALL_LIMIT] late.
     */
    internal fun tick(last: Long): Boolean {
        val now = source.asLong
        val gap = now - last
        if (gap > worstTickGap) worstTickGap = gap
        if (gap > STALL_LIMIT) {
            trusted = false
            log.debug("coarse clock ticked {} ms late; hits read the real clock from now on", gap / 1_000_000)
            return false
        }
        published = now
        return true
    }

    /** For tests: publish [now] as a tick would, and trust it. */
    internal fun publish(now: Long) {
        published = now
        trusted = true
    }

    companion object {
        /** 10 ms: the tick only has to be small next to [WINDOW]; 100 wake-ups a second. */
        const val TICK: Long = 10_000_000

        /**
         * How far behind the real clock the published value may be and still decide a hit: 10 s.
         * Wide on purpose: at load 17 on this project's 2-core VM a tick came 1.5 s late, and the
         * only cost of a wide window is a real clock read per hit in a copy's last 10 s.
         */
        const val WINDOW: Long = 10_000_000_000

        /** A tick this late (2 s, a fifth of [WINDOW]) means the ticker cannot be trusted. */
        const val STALL_LIMIT: Long = 2_000_000_000

        /** The process's clock, shared by every cache. */
        val SYSTEM = CoarseClock(System::nanoTime)

        private val log = LoggerFactory.getLogger(CoarseClock::class.java)
    }
}
