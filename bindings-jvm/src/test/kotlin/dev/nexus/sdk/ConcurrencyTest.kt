package dev.nexus.sdk

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger

/**
 * A cold cache under concurrency: every caller misses at once and exactly one gateway call is
 * made, counted at a loopback gateway. The gateway holds its answer until the cache reports
 * that every caller has missed (its own counter), so the test does not depend on timing.
 */
class ConcurrencyTest {
    private class Gateway : AutoCloseable {
        val calls = AtomicInteger()
        val release = CountDownLatch(1)
        val server = Loopback { r ->
            if (r.path != "/v1/resolve") return@Loopback Reply(404)
            calls.incrementAndGet()
            release.await(60, TimeUnit.SECONDS)
            Reply.json(200, resolveBody("tok_single"))
        }

        override fun close() = server.close()
    }

    /** Wait (bounded) until [n] callers have missed, then let the gateway answer. */
    private fun releaseWhenAllMissed(gateway: Gateway, cache: TokenCache, n: Int) {
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60)
        while (cache.stats().misses < n) {
            check(System.nanoTime() < deadline) { "only ${cache.stats()} of $n callers missed" }
            Thread.onSpinWait()
        }
        gateway.release.countDown()
    }

    @Test
    fun sixtyFourThreadsOnAColdCacheMakeOneGatewayCall() {
        Gateway().use { gateway ->
            clientFor(gateway.server.url).use { client ->
                TokenCache().use { cache ->
                    val pool = Executors.newFixedThreadPool(64)
                    try {
                        val futures = (1..64).map {
                            pool.submit<String> { client.getCachedTokenBlocking(cache, "ws", "github").accessToken }
                        }
                        releaseWhenAllMissed(gateway, cache, 64)
                        val tokens = futures.map { it.get(60, TimeUnit.SECONDS) }
                        assertEquals(List(64) { "tok_single" }, tokens)
                        assertEquals(1, gateway.calls.get())
                        assertEquals(1L, cache.stats().fetches)
                    } finally {
                        pool.shutdownNow()
                    }
                }
            }
        }
    }

    @Test
    fun thousandCoroutinesOnAColdCacheMakeOneGatewayCall() {
        Gateway().use { gateway ->
            clientFor(gateway.server.url).use { client ->
                TokenCache().use { cache ->
                    val tokens = runBlocking {
                        val all = (1..1000).map {
                            async(Dispatchers.Default) { client.getCachedToken(cache, "ws", "github").accessToken }
                        }
                        releaseWhenAllMissed(gateway, cache, 1000)
                        all.awaitAll()
                    }
                    assertEquals(1000, tokens.count { it == "tok_single" })
                    assertEquals(1, gateway.calls.get())
                    assertEquals(1L, cache.stats().fetches)
                    // A warm cache answers without the gateway.
                    assertEquals("tok_single", client.getCachedTokenBlocking(cache, "ws", "github").accessToken)
                    assertEquals(1, gateway.calls.get())
                }
            }
        }
    }
}
