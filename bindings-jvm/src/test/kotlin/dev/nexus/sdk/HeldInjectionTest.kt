package dev.nexus.sdk

import com.fasterxml.jackson.databind.JsonNode
import okhttp3.MediaType.Companion.toMediaType
import okhttp3.OkHttpClient
import okhttp3.Request
import okhttp3.RequestBody.Companion.toRequestBody
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.util.Collections
import java.util.concurrent.atomic.AtomicInteger
import javax.crypto.Mac
import javax.crypto.spec.SecretKeySpec

/**
 * [NexusInterceptor] keeps the core's request-independent injection with the held token and
 * applies it without a native call; these tests check that it is used, that it dies with the
 * held token (a 401, a forced refresh), that the signing strategies still go through the core per
 * request, and that the core's request check still decides.
 */
class HeldInjectionTest {
    /** A gateway resolving `tok_1`, `tok_2`, ... with [strategy], and an upstream recording requests. */
    private class Stack(
        val strategy: (String) -> JsonNode = { resolveBody(it) },
        val upstreamStatus: (Received) -> Int = { 200 },
    ) : AutoCloseable {
        val resolves = AtomicInteger()
        val received: MutableList<Received> = Collections.synchronizedList(mutableListOf<Received>())
        val gateway = Loopback { r ->
            if (r.path == "/v1/resolve") Reply.json(200, strategy("tok_${resolves.incrementAndGet()}")) else Reply(404)
        }
        val upstream = Loopback { r -> received += r; Reply(upstreamStatus(r)) }
        val client = clientFor(gateway.url)
        val cache = TokenCache()
        val interceptor = NexusInterceptor(client, cache, WS, PROVIDER)
        val http = OkHttpClient.Builder().addInterceptor(interceptor).build()

        fun get(path: String = "/r", header: Pair<String, String>? = null): Int {
            val request = Request.Builder().url("${upstream.url}$path").apply { header?.let { header(it.first, it.second) } }.build()
            return http.newCall(request).execute().use { it.code }
        }

        fun post(body: String): Int =
            http.newCall(Request.Builder().url("${upstream.url}/p").post(body.toRequestBody("text/plain".toMediaType())).build())
                .execute().use { it.code }

        val auths: List<String?> get() = received.map { it.headers["authorization"] }

        override fun close() {
            cache.close()
            client.close()
            upstream.close()
            gateway.close()
        }
    }

    @Test
    fun aHeldInjectionServesRequestsWithoutTheCore() = Stack().use { s ->
        repeat(3) { assertEquals(200, s.get()) }
        assertEquals(List(3) { "Bearer tok_1" }, s.auths)
        assertEquals(1, s.interceptor.preparedByCore.sum(), "only the first request asks the core")
    }

    @Test
    fun a401DropsTheHeldInjection() {
        // tok_1 is accepted once, then refused: the core refreshes to tok_2.
        val tok1 = AtomicInteger()
        Stack(upstreamStatus = { r -> if (r.headers["authorization"] == "Bearer tok_1" && tok1.incrementAndGet() > 1) 401 else 200 }).use { s ->
            assertEquals(200, s.get())
            assertEquals(200, s.get(), "the held tok_1 is refused, the retry carries tok_2")
            assertEquals(200, s.get())
            assertEquals(200, s.get())
            // Without dropping the held injection, the last two would carry tok_1 (and be refused).
            assertEquals(listOf("Bearer tok_1", "Bearer tok_1", "Bearer tok_2", "Bearer tok_2", "Bearer tok_2"), s.auths)
            assertEquals(2, s.resolves.get())
        }
    }

    @Test
    fun aForcedRefreshDropsTheHeldInjection() = Stack().use { s ->
        s.get()
        s.get()
        val held = s.client.getCachedTokenBlocking(s.cache, WS, PROVIDER)
        val fresh = s.client.replaceRejectedBlocking(s.cache, WS, PROVIDER, held)
        assertEquals("tok_2", fresh.accessToken)
        s.get()
        s.client.invalidate(s.cache, WS, PROVIDER)
        s.get()
        assertEquals(listOf("Bearer tok_1", "Bearer tok_1", "Bearer tok_2", "Bearer tok_3"), s.auths)
    }

    @Test
    fun aSigningStrategySignsEachRequestThroughTheCore() = Stack(strategy = ::hmacBody).use { s ->
        s.post("first body")
        s.post("second body")
        s.post("first body")
        val signatures = s.received.map { it.headers["x-signature"] }
        assertEquals(listOf("first body", "second body", "first body").map(::hmacHex), signatures)
        assertNotEquals(signatures[0], signatures[1], "a body-dependent signature differs per body")
        assertEquals(3, s.interceptor.preparedByCore.sum(), "every signed request goes through the core")
    }

    @Test
    fun theQueryParameterIsHeldOnlyForABareUrl() = Stack(strategy = ::queryBody).use { s ->
        s.get("/r")
        s.get("/r?a=1&api_key=old")
        s.get("/r")
        assertEquals(listOf("api_key=tok_1", "a=1&api_key=tok_1", "api_key=tok_1"), s.received.map { it.query })
        assertEquals(2, s.interceptor.preparedByCore.sum(), "a URL with a query needs the core's edit")
    }

    @Test
    fun theCoreStillChecksRequestsItHasNotSeen() = Stack().use { s ->
        s.get()
        s.get(header = "X-Trace" to "a")
        s.get(header = "X-Trace" to "a")
        assertEquals(2, s.interceptor.preparedByCore.sum(), "a new header goes through the core once")
        // OkHttp accepts this name; the core's request check does not (not an HTTP token).
        val e = assertThrows<NexusIOException> { s.get(header = "X(y)" to "1") }
        assertEquals("invalid_request", e.cause.code)
        assertEquals(3, s.received.size)
    }

    private companion object {
        const val WS = "ws_inject"
        const val PROVIDER = "svc"
        const val SECRET = "whsec_1"

        fun hmacBody(token: String): JsonNode = JSON.readTree(
            """{"token_type":"Bearer","strategy":{"type":"hmac_payload","config":{"header_name":"X-Signature"}},
               "credentials":{"secret":"$SECRET","access_token":"$token"},"expires_in":3600}""",
        )

        fun queryBody(token: String): JsonNode = JSON.readTree(
            """{"token_type":"Bearer","strategy":{"type":"query_param","config":{"param_name":"api_key","credential_field":"api_key"}},
               "credentials":{"api_key":"$token"},"expires_in":3600}""",
        )

        fun hmacHex(body: String): String =
            Mac.getInstance("HmacSHA256").apply { init(SecretKeySpec(SECRET.toByteArray(), "HmacSHA256")) }
                .doFinal(body.toByteArray()).joinToString("") { "%02x".format(it) }
    }
}
