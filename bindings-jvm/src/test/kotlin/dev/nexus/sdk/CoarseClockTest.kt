package dev.nexus.sdk

import dev.nexus.sdk.ffi.coarseClockNowMs
import dev.nexus.sdk.ffi.holdCoarseClockForTests
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotSame
import org.junit.jupiter.api.Assertions.assertSame
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Test
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicLong

/**
 * A held copy decided on the core's coarse clock (`nexus_sdk::coarse_clock`) may only stop
 * serving early, never late. The published value is the core's process-wide word, set by the
 * core's test hook (which ends the core's ticker for good, so nothing else writes it); the JVM
 * tests share one process, so each test sets the value it relies on. The real clock a copy
 * falls back to is hand-moved and counted, so a test can tell which reading decided.
 */
class CoarseClockTest {
    /** Time moved by hand, counting its reads. */
    private class ManualTime(start: Long = 1_000_000_000_000L) {
        val now = AtomicLong(start)
        val reads = AtomicInteger()
        val clock = CoarseClock { reads.incrementAndGet(); now.get() }
    }

    /**
     * A value a test published stays until the next test sets one; left untrusted, later tests
     * of other classes read the real clock, never a frozen value that would say "ahead".
     */
    @AfterEach
    fun untrust() = holdCoarseClockForTests(null)

    /** The Kotlin view is the core's word itself: what the core publishes is what a hit reads. */
    @Test
    fun theJvmReadsTheCoresWord() {
        holdCoarseClockForTests(1234.5)
        assertEquals(1234.5, CoarseClock.SYSTEM.published())
        holdCoarseClockForTests(null)
        assertEquals(Double.POSITIVE_INFINITY, CoarseClock.SYSTEM.published(), "untrusted is +inf")
    }

    /** Far from the deadline, with the published value current and trusted: no clock read. */
    @Test
    fun farFromTheDeadlineThePublishedValueDecidesWithoutAClockRead() {
        val t = ManualTime()
        heldThroughTheClient(t) { hit, first, _ ->
            holdCoarseClockForTests(coarseClockNowMs())
            t.now.addAndGet(TimeUnit.SECONDS.toNanos(3500))
            t.reads.set(0)
            repeat(3) { assertSame(first, hit()) }
            assertEquals(0, t.reads.get(), "a trusted published value decides a hit far from its deadline")
        }
    }

    /**
     * At the latest possible deadline, with the published value as late as the core's window
     * allows (one millisecond inside it), the real clock decides: the held copy is not served
     * (the core, on its own clock, serves a new object).
     */
    @Test
    fun aHeldTokenIsNotServedAfterItsDeadline() {
        val t = ManualTime()
        heldThroughTheClient(t) { hit, first, kept ->
            // 3600 s of life, a 30 s safety buffer: the core's deadline is at most 3570 s after
            // the hold returned (`after`), in the core's base.
            holdCoarseClockForTests(after + TimeUnit.SECONDS.toMillis(3570) - WINDOW_MS + 1)
            t.reads.set(0)
            assertSame(first, hit(), "before the deadline on the real clock")
            assertEquals(1, t.reads.get(), "in the last window the real clock decides")
            t.now.set(kept + TimeUnit.SECONDS.toNanos(3570))
            assertNotSame(first, hit())
        }
    }

    /** An untrusted clock (a stalled ticker): every hit reads the real clock, and ends in time. */
    @Test
    fun anUntrustedClockFallsBackToTheRealClockOnAHeldHit() {
        val t = ManualTime()
        heldThroughTheClient(t) { hit, first, kept ->
            holdCoarseClockForTests(null)
            t.now.addAndGet(TimeUnit.SECONDS.toNanos(3500))
            t.reads.set(0)
            assertSame(first, hit(), "far from the deadline the copy still serves")
            assertEquals(1, t.reads.get(), "read on the real clock")
            t.now.set(kept + TimeUnit.SECONDS.toNanos(3570))
            assertNotSame(first, hit())
            assertTrue(t.reads.get() >= 2)
        }
    }

    /** The core's test hook ended the ticker: a held hit does not start another one. */
    @Test
    fun aHeldHitStartsNoJvmThread() {
        val t = ManualTime()
        heldThroughTheClient(t) { hit, first, _ -> assertSame(first, hit()) }
        assertFalse(Thread.getAllStackTraces().keys.any { it.name == "nexus-coarse-clock" }, "the ticker is the core's")
    }

    private var after = 0.0

    /**
     * A client and a cache on [t]'s clock holding one hit (3600 s of life, kept at the returned
     * hand-moved time; [after] is the core's clock right after it was kept).
     */
    private fun heldThroughTheClient(t: ManualTime, body: (hit: () -> Token, first: Token, kept: Long) -> Unit) {
        Loopback { r -> if (r.path == "/v1/resolve") Reply.json(200, resolveBody("tok_1", 3600)) else Reply(404) }.use { gateway ->
            clientFor(gateway.url).use { client ->
                TokenCache(null, t.clock).use { cache ->
                    val kept = t.now.get()
                    val hit = { client.getCachedTokenBlocking(cache, WS, PROVIDER) }
                    val first = hit()
                    after = coarseClockNowMs()
                    body(hit, first, kept)
                }
            }
        }
    }

    private companion object {
        const val WS = "ws_clock"
        const val PROVIDER = "github"

        /** The core's window (`nexus_sdk::coarse_clock::WINDOW`), as this test expects it. */
        const val WINDOW_MS = 10_000.0
    }
}
