package dev.nexus.sdk

import okhttp3.OkHttpClient
import okhttp3.Request
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertSame
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.time.Duration
import java.util.Collections
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicReference
import kotlin.concurrent.thread

/**
 * The JVM's copy of a cache hit ([HeldHits]) serves hits without a native call, and must never
 * outlive what the core would serve: each test holds a copy, then does something after which the
 * core serves another token (or none), and checks the next hit. Without the matching
 * invalidation in the Kotlin layer, the held copy would be returned and the test fails.
 */
class HeldHitsTest {
    /** A loopback gateway answering resolves with tok_1, tok_2, ... and recording who asked. */
    private class Gateway(expiresIn: Int = 3600, forcedGate: CountDownLatch? = null) : AutoCloseable {
        val resolves = AtomicInteger()
        val auth: MutableList<String> = Collections.synchronizedList(mutableListOf<String>())

        /** Counted down when a forced refresh arrives (which then waits for `forcedGate`). */
        val forcedSeen = CountDownLatch(1)
        val server = Loopback { r ->
            when {
                r.path == "/v1/resolve" -> {
                    val forced = r.query?.contains("force_refresh=true") == true
                    auth += if (forced) "forced:${r.headers["authorization"]}" else "${r.headers["authorization"]}"
                    if (forced) {
                        forcedSeen.countDown()
                        forcedGate?.await(30, TimeUnit.SECONDS)
                    }
                    Reply.json(200, resolveBody("tok_${resolves.incrementAndGet()}", expiresIn))
                }
                r.method == "POST" && r.path == "/v1/sessions" -> Reply.json(201, JSON.readTree(SESSION))
                r.method == "DELETE" && r.path.startsWith("/v1/sessions/") -> Reply(204)
                else -> Reply(404)
            }
        }

        override fun close() = server.close()
    }

    private fun withClient(
        expiresIn: Int = 3600,
        safetyBuffer: Duration? = null,
        forcedGate: CountDownLatch? = null,
        body: (Gateway, NexusClient, TokenCache) -> Unit,
    ) = Gateway(expiresIn, forcedGate).use { gateway ->
            NexusClient(NexusClientOptions(gatewayUrl = gateway.server.url, apiKey = API_KEY, maxRetries = 0)).use { client ->
                TokenCache(safetyBuffer).use { cache -> body(gateway, client, cache) }
            }
        }

    private fun NexusClient.hit(cache: TokenCache) = getCachedTokenBlocking(cache, WS, PROVIDER)

    @Test
    fun aHitIsTheHeldCopy() = withClient { gateway, client, cache ->
        val first = client.hit(cache)
        assertSame(first, client.hit(cache), "a hit returns the held copy itself")
        assertEquals(1, gateway.resolves.get())
    }

    @Test
    fun invalidateDropsTheCopy() = withClient { gateway, client, cache ->
        val first = client.hit(cache)
        client.invalidate(cache, WS, PROVIDER)
        val next = client.hit(cache)
        assertEquals("tok_2", next.accessToken)
        assertNotEquals(first.generation, next.generation)
        assertEquals(2, gateway.resolves.get())
    }

    @Test
    fun anInvalidationThroughAnotherClientOfTheCacheDropsTheCopy() = withClient { gateway, client, cache ->
        clientFor(gateway.server.url, API_KEY).use { other ->
            client.hit(cache)
            other.invalidate(cache, WS, PROVIDER)
            assertEquals("tok_2", client.hit(cache).accessToken)
        }
    }

    @Test
    fun clearDropsTheCopy() = withClient { _, client, cache ->
        client.hit(cache)
        cache.clear()
        assertEquals("tok_2", client.hit(cache).accessToken)
    }

    @Test
    fun theCopyEndsWhereTheCoreFreshnessRuleEnds() =
        // 30 s of life and a 30 s safety buffer: the core's rule gives the token no usable time,
        // so no hit may be served from the copy (a copy kept by its own rule would be).
        withClient(expiresIn = 30, safetyBuffer = Duration.ofSeconds(30)) { gateway, client, cache ->
            assertEquals("tok_1", client.hit(cache).accessToken)
            assertEquals("tok_2", client.hit(cache).accessToken)
            assertEquals(2, gateway.resolves.get())
        }

    @Test
    fun the401RuleOfTheInterceptorReplacesTheCopy() = withClient { gateway, client, cache ->
        val rejected = client.hit(cache)
        val statuses = mutableListOf(401, 200).iterator()
        Loopback { Reply(statuses.next()) }.use { upstream ->
            val http = OkHttpClient.Builder().addInterceptor(NexusInterceptor(client, cache, WS, PROVIDER)).build()
            http.newCall(Request.Builder().url("${upstream.url}/r").build()).execute().use { assertEquals(200, it.code) }
        }
        val next = client.hit(cache)
        assertEquals("tok_2", next.accessToken)
        assertNotEquals(rejected.generation, next.generation)
        assertEquals(listOf("Bearer $API_KEY", "forced:Bearer $API_KEY"), gateway.auth.toList())
    }

    @Test
    fun the401RuleOfTheCoreFetchReplacesTheCopy() = withClient { gateway, client, cache ->
        client.hit(cache)
        val statuses = mutableListOf(401, 200).iterator()
        Loopback { Reply(statuses.next()) }.use { upstream ->
            assertEquals(200, client.fetchBlocking(cache, WS, PROVIDER, "GET", "${upstream.url}/r").status)
        }
        assertEquals("tok_2", client.hit(cache).accessToken)
        assertEquals(2, gateway.resolves.get())
    }

    @Test
    fun aHitDuringThe401RuleWaitsForTheReplacement() {
        val release = CountDownLatch(1)
        withClient(forcedGate = release) { gateway, client, cache ->
            val rejected = client.hit(cache)
            val replacing = thread { client.replaceRejectedBlocking(cache, WS, PROVIDER, rejected) }
            // The core has dropped tok_1 and is refreshing (the gateway holds the answer).
            assertTrue(gateway.forcedSeen.await(10, TimeUnit.SECONDS))
            val during = AtomicReference<Token>()
            val hitting = thread { during.set(client.hit(cache)) }
            // The core makes this hit join the refresh; a copy of tok_1 still serving while the
            // 401 rule runs would answer at once (and the hit thread would end first).
            val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10)
            while (hitting.isAlive && cache.stats().joined == 0L && System.nanoTime() < deadline) Thread.onSpinWait()
            release.countDown()
            hitting.join(10_000)
            replacing.join(10_000)
            assertEquals("tok_2", during.get()?.accessToken)
            assertEquals(1, cache.stats().joined)
        }
    }

    @Test
    fun aClosedClientServesNoCopy() = withClient { _, client, cache ->
        client.hit(cache)
        client.close()
        assertThrows(IllegalStateException::class.java) { client.hit(cache) }
    }

    @Test
    fun aSessionStartAndCloseChangeWhatIsServed() = withClient { gateway, client, cache ->
        assertEquals("tok_1", client.hit(cache).accessToken)
        client.startSessionBlocking()
        assertEquals("tok_2", client.hit(cache).accessToken, "a session's token, not the API key's copy")
        client.closeSessionBlocking()
        assertEquals("tok_1", client.hit(cache).accessToken, "back to the API key's cached token")
        assertEquals(listOf("Bearer $API_KEY", "Bearer $SESSION_TOKEN"), gateway.auth.toList())
    }

    private companion object {
        const val WS = "ws_held"
        const val PROVIDER = "github"
        const val API_KEY = "nxk_held"
        const val SESSION_TOKEN = "eyJhbGciOiJFUzI1NiJ9.e30.sess"
        const val SESSION = """{"session_token":"$SESSION_TOKEN","token_type":"session","session_id":"ses_held",
            "expires_in":900,"expires_at":"2099-01-01T00:00:00Z","scopes":["provider:github"],"agent_id":"agt_held","sub":"agt_held"}"""
    }
}
