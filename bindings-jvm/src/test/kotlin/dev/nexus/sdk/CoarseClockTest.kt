package dev.nexus.sdk

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotSame
import org.junit.jupiter.api.Assertions.assertSame
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicLong

/**
 * [CoarseClock] may only make a held copy stop serving early, never late: time is driven by hand
 * (no ticker thread unless a test starts one itself, no sleeps), and every real clock read is
 * counted so that the tests can tell which reading decided.
 */
class CoarseClockTest {
    /**
     * Time moved by hand. Its clock runs no ticker thread unless [ticker]: a ticker over this
     * source would read it (counted as a hit's read) and take the test's jumps for stalls.
     */
    private class ManualTime(start: Long = 1_000_000_000_000L, ticker: Boolean = false) {
        val now = AtomicLong(start)
        val reads = AtomicInteger()
        val clock = CoarseClock({ reads.incrementAndGet(); now.get() }, ticker)

        fun advance(nanos: Long) = now.addAndGet(nanos)
    }

    @Test
    fun withoutATickerTheRealClockDecides() {
        val t = ManualTime()
        val deadline = t.now.get() + 10
        assertTrue(t.clock.before(deadline))
        t.advance(10)
        assertFalse(t.clock.before(deadline))
        assertEquals(2, t.reads.get())
    }

    @Test
    fun farFromTheDeadlineThePublishedTickDecidesWithoutAClockRead() {
        val t = ManualTime()
        val deadline = t.now.get() + TimeUnit.SECONDS.toNanos(60)
        t.clock.publish(t.now.get())
        t.reads.set(0)
        repeat(3) { assertTrue(t.clock.before(deadline)) }
        assertEquals(0, t.reads.get())
    }

    @Test
    fun inTheLastWindowTheRealClockDecides() {
        val t = ManualTime()
        val deadline = t.now.get() + CoarseClock.WINDOW
        // The ticker is exactly one window behind: the published value alone would say "ahead".
        t.advance(CoarseClock.WINDOW)
        t.clock.publish(deadline - CoarseClock.WINDOW)
        t.reads.set(0)
        assertFalse(t.clock.before(deadline), "at the deadline, whatever the tick says")
        assertEquals(1, t.reads.get())
    }

    @Test
    fun aLateTickStopsTheCoarseReadingForGood() {
        val t = ManualTime()
        val last = t.now.get()
        t.clock.publish(last)
        t.advance(CoarseClock.STALL_LIMIT + 1)
        assertFalse(t.clock.tick(last), "the ticker stops")
        val deadline = t.now.get() + TimeUnit.SECONDS.toNanos(60)
        t.reads.set(0)
        assertTrue(t.clock.before(deadline))
        assertEquals(1, t.reads.get(), "the real clock decides after a stall")
        assertTrue(t.clock.worstTickGap > CoarseClock.STALL_LIMIT)
    }

    @Test
    fun aTickOnTimePublishes() {
        val t = ManualTime()
        val last = t.now.get()
        t.advance(CoarseClock.TICK)
        assertTrue(t.clock.tick(last))
        t.clock.publish(t.now.get()) // trusted, as the ticker thread sets once started
        t.reads.set(0)
        assertTrue(t.clock.before(t.now.get() + 2 * CoarseClock.WINDOW))
        assertEquals(0, t.reads.get())
    }

    @Test
    fun anInterruptedTickerStopsDeciding() {
        val t = ManualTime(ticker = true)
        t.clock.start()
        val ticker = t.clock.ticker!!
        // Wait (bounded) until the ticker has published once, i.e. decides hits. The hand-moved
        // time never advances here, so the ticker cannot stall itself off meanwhile.
        val far = t.now.get() + TimeUnit.SECONDS.toNanos(60)
        val until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
        while (!t.clock.isTrusted && System.nanoTime() < until) Thread.onSpinWait()
        assertTrue(t.clock.isTrusted, "the ticker published its first tick")
        ticker.interrupt()
        ticker.join(10_000)
        assertFalse(ticker.isAlive, "an interrupt ends the ticker")
        t.reads.set(0)
        assertTrue(t.clock.before(far))
        assertEquals(1, t.reads.get(), "the real clock decides once the ticker ended")
    }

    /**
     * Through the client: the held copy is served until its deadline and not after it. The
     * test's clock runs no ticker thread (a held hit would otherwise start one over the
     * hand-moved time), so the published value and the trust are exactly what the test set.
     */
    @Test
    fun aHeldTokenIsNotServedAfterItsDeadline() {
        val t = ManualTime()
        heldThroughTheClient(t) { hit, first, kept ->
            // 3600 s of life, a 30 s safety buffer: the core's deadline is at most 3570 s after
            // `kept`. Far from it, with the tick current and trusted, no clock read.
            t.advance(TimeUnit.SECONDS.toNanos(3500))
            t.clock.publish(t.now.get())
            assertTrue(t.clock.isTrusted)
            t.reads.set(0)
            assertSame(first, hit())
            assertEquals(0, t.reads.get(), "a trusted tick decides a hit far from its deadline")
            // At the latest possible deadline, with the tick as late as it may be: the held copy
            // is not served (the core, on the real clock, serves a new object).
            t.now.set(kept + TimeUnit.SECONDS.toNanos(3570))
            t.clock.publish(t.now.get() - CoarseClock.WINDOW + 1)
            assertNotSame(first, hit())
            assertFalse(t.clock.isStarted, "no ticker thread touched the test's clock")
        }
    }

    /** Once the ticker stalled, the same held hit reads the real clock, and still ends in time. */
    @Test
    fun anUntrustedClockFallsBackToTheRealClockOnAHeldHit() {
        val t = ManualTime()
        heldThroughTheClient(t) { hit, first, kept ->
            val last = t.now.get()
            t.clock.publish(last)
            t.advance(TimeUnit.SECONDS.toNanos(3500))
            assertFalse(t.clock.tick(last), "a tick 3500 s late is a stall")
            assertFalse(t.clock.isTrusted)
            t.reads.set(0)
            assertSame(first, hit(), "far from the deadline the copy still serves")
            assertEquals(1, t.reads.get(), "read on the real clock")
            // Past the latest possible deadline; the stale published value would say "ahead".
            t.now.set(kept + TimeUnit.SECONDS.toNanos(3570))
            assertNotSame(first, hit())
        }
    }

    /** A client and a cache on [t]'s clock holding one hit (3600 s of life, kept at the returned time). */
    private fun heldThroughTheClient(t: ManualTime, body: (hit: () -> Token, first: Token, kept: Long) -> Unit) {
        Loopback { r -> if (r.path == "/v1/resolve") Reply.json(200, resolveBody("tok_1", 3600)) else Reply(404) }.use { gateway ->
            clientFor(gateway.url).use { client ->
                TokenCache(null, t.clock).use { cache ->
                    val kept = t.now.get()
                    val hit = { client.getCachedTokenBlocking(cache, WS, PROVIDER) }
                    body(hit, hit(), kept)
                }
            }
        }
    }

    @Test
    fun theTickerIsANamedDaemon() {
        Loopback { r -> if (r.path == "/v1/resolve") Reply.json(200, resolveBody("tok_1")) else Reply(404) }.use { gateway ->
            clientFor(gateway.url).use { client ->
                TokenCache().use { cache -> client.getCachedTokenBlocking(cache, WS, PROVIDER) }
            }
        }
        val tickers = Thread.getAllStackTraces().keys.filter { it.name == "nexus-coarse-clock" }
        assertTrue(tickers.all { it.isDaemon }, "a daemon: it never keeps the JVM alive")
        assertTrue(CoarseClock.SYSTEM.isStarted, "a held hit starts the ticker")
        // The ticker ends only after a stall (a loaded machine may cause one), and starts once.
        val stalled = CoarseClock.SYSTEM.worstTickGap > CoarseClock.STALL_LIMIT
        if (!stalled) assertEquals(1, tickers.size, "one ticker per process")
        assertTrue(tickers.size <= 1)
    }

    private companion object {
        const val WS = "ws_clock"
        const val PROVIDER = "github"
    }
}
