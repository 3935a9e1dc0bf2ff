package dev.nexus.sdk

import com.fasterxml.jackson.databind.JsonNode
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test
import java.net.URI
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.util.Collections
import java.util.concurrent.atomic.AtomicInteger

/**
 * [NexusHttpClient] (java.net.http) uses the same held injection as the OkHttp interceptor
 * ([HeldInjection]): used without the core once the core accepted the request's parts, dropped
 * with the held token (a 401 refresh, invalidate), never for a signing strategy or a URL with a
 * query, and the caller's header of the injected name is replaced, not duplicated.
 */
class HttpClientHeldTest {
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
        val http = NexusHttpClient(client, cache, WS, PROVIDER)

        fun get(path: String = "/r", header: Pair<String, String>? = null): Int {
            val request = HttpRequest.newBuilder(URI.create("${upstream.url}$path"))
                .apply { header?.let { header(it.first, it.second) } }.GET().build()
            return http.send(request, HttpResponse.BodyHandlers.discarding()).statusCode()
        }

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
        assertEquals(1, s.http.preparedByCore.sum(), "only the first request asks the core")
    }

    @Test
    fun a401RefreshDropsTheHeldInjection() {
        val tok1 = AtomicInteger()
        Stack(upstreamStatus = { r -> if (r.headers["authorization"] == "Bearer tok_1" && tok1.incrementAndGet() > 1) 401 else 200 }).use { s ->
            repeat(4) { assertEquals(200, s.get()) }
            // Without dropping the held injection, the last two would carry tok_1 (and be refused).
            assertEquals(listOf("Bearer tok_1", "Bearer tok_1", "Bearer tok_2", "Bearer tok_2", "Bearer tok_2"), s.auths)
            assertEquals(2, s.resolves.get())
        }
    }

    @Test
    fun invalidateDropsTheHeldInjection() = Stack().use { s ->
        s.get()
        s.get()
        s.client.invalidate(s.cache, WS, PROVIDER)
        s.get()
        s.get()
        assertEquals(listOf("Bearer tok_1", "Bearer tok_1", "Bearer tok_2", "Bearer tok_2"), s.auths)
        assertEquals(1, s.http.preparedByCore.sum(), "the new token's injection is asked of the core, not a prepare")
    }

    @Test
    fun theCallersHeaderOfTheInjectedNameIsReplaced() = Stack().use { s ->
        s.get(header = "authorization" to "Bearer mine")
        s.get(header = "authorization" to "Bearer mine")
        assertEquals(listOf("Bearer tok_1", "Bearer tok_1"), s.auths)
        assertEquals(1, s.http.preparedByCore.sum())
    }

    @Test
    fun theQueryParameterIsHeldOnlyForABareUrl() = Stack(strategy = ::queryBody).use { s ->
        s.get("/r")
        s.get("/r?a=1&api_key=old")
        s.get("/r")
        assertEquals(listOf("api_key=tok_1", "a=1&api_key=tok_1", "api_key=tok_1"), s.received.map { it.query })
        assertEquals(2, s.http.preparedByCore.sum(), "a URL with a query needs the core's edit")
    }

    @Test
    fun aSigningStrategyGoesThroughTheCoreEachTime() = Stack(strategy = ::hmacBody).use { s ->
        repeat(3) { s.get() }
        assertEquals(3, s.http.preparedByCore.sum())
    }

    private companion object {
        const val WS = "ws_jhttp"
        const val PROVIDER = "svc"

        fun hmacBody(token: String): JsonNode = JSON.readTree(
            """{"token_type":"Bearer","strategy":{"type":"hmac_payload","config":{"header_name":"X-Signature"}},
               "credentials":{"secret":"whsec_1","access_token":"$token"},"expires_in":3600}""",
        )

        fun queryBody(token: String): JsonNode = JSON.readTree(
            """{"token_type":"Bearer","strategy":{"type":"query_param","config":{"param_name":"api_key","credential_field":"api_key"}},
               "credentials":{"api_key":"$token"},"expires_in":3600}""",
        )
    }
}
