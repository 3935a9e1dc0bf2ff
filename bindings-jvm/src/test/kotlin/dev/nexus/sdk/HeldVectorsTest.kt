package dev.nexus.sdk

import com.fasterxml.jackson.databind.JsonNode
import dev.nexus.sdk.ffi.NativeHeader
import dev.nexus.sdk.ffi.NativeRequest
import dev.nexus.sdk.ffi.applyResolveBody
import okhttp3.HttpUrl.Companion.toHttpUrl
import java.net.URI
import java.net.http.HttpRequest
import okhttp3.Request
import okhttp3.RequestBody.Companion.toRequestBody
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/**
 * The strategy vectors (tests/vectors/strategies.json) through the held injection: for every
 * case the core accepts, the request [NexusInterceptor] would send from the core's
 * request-independent answer is the request the core's own `prepare` makes (same injected
 * headers, same URL), and the signing strategies hold nothing.
 */
class HeldVectorsTest {
    @Test
    fun theHeldInjectionIsWhatTheCoreInjects() {
        var held = 0
        var perRequest = 0
        var javaHeld = 0
        for (case in Vectors.load("strategies")["cases"]) {
            if (case.has("expect_error")) continue
            val name = case["name"].asText()
            val node = case["request"]
            val headers = node["headers"].fields().asSequence().map { it.key to it.value.asText() }.toList()
            val body = node["body"]?.asText()?.toByteArray()
            val outcome = native {
                applyResolveBody(
                    JSON.writeValueAsBytes(case["resolve"]),
                    "2026-11-24T12:00:00Z",
                    NativeRequest(node["method"].asText(), node["url"].asText(), headers.map { NativeHeader(it.first, it.second) }, body),
                )
            }
            val injection = HeldInjection.of(native { outcome.token.requestIndependent() })
            val request = okRequest(node, headers, body)
            // The core accepted this request (no expect_error), as the interceptor records after
            // the core's prepare.
            val accepted = AcceptedRequests().apply { accept(request.method, request.url.host, request.headers) }
            val applied = injection.applyTo(request, accepted)
            val type = case["resolve"]["strategy"]["type"].asText()
            if (type == "hmac_payload" || type == "aws_sigv4") {
                assertNull(applied, "$name: a signing strategy holds nothing")
                perRequest++
                continue
            }
            if (applied == null) {
                // Only the query edit of a URL that has a query or fragment needs the core.
                assertTrue(request.url.encodedQuery != null || request.url.encodedFragment != null, name)
                continue
            }
            held++
            val expect = case["expect"]
            for (injected in outcome.injected) {
                assertEquals(listOf(injected.value), applied.headers.values(injected.name), "$name: ${injected.name}")
            }
            val expected = expect["headers"].fields().asSequence().associate { it.key.lowercase() to it.value.asText() }
            assertEquals(expected, outcome.injected.associate { it.name.lowercase() to it.value }, name)
            val untouched = headers.filter { (n, _) -> outcome.injected.none { it.name.equals(n, ignoreCase = true) } }
            for ((n, v) in untouched) assertEquals(v, applied.header(n), "$name: the caller's $n")
            assertEquals((expect["url"]?.asText() ?: node["url"].asText()).toHttpUrl(), applied.url, "$name: url")
            if (javaRequest(node, headers) { r -> javaCase(name, r, injection, outcome.injected.map { it.name to it.value }, headers, expect, node) }) javaHeld++
        }
        assertTrue(javaHeld >= 10, "held cases through java.net.http: $javaHeld")
        assertTrue(held >= 15, "held cases: $held")
        assertTrue(perRequest >= 4, "signing cases: $perRequest")
    }

    /**
     * The same case through [NexusHttpClient]'s adapter; false when java.net.http cannot carry
     * the request at all (a header it restricts, a URI it refuses).
     */
    private fun javaRequest(node: JsonNode, headers: List<Pair<String, String>>, check: (HttpRequest) -> Unit): Boolean {
        val request = try {
            HttpRequest.newBuilder(URI.create(node["url"].asText())).method(node["method"].asText(), HttpRequest.BodyPublishers.noBody())
                .apply { headers.forEach { (n, v) -> header(n, v) } }.build()
        } catch (e: IllegalArgumentException) {
            return false
        }
        check(request)
        return true
    }

    private fun javaCase(
        name: String,
        request: HttpRequest,
        injection: HeldInjection,
        injected: List<Pair<String, String>>,
        headers: List<Pair<String, String>>,
        expect: JsonNode,
        node: JsonNode,
    ) {
        val accepted = AcceptedRequests().apply { accept(request.method(), request.uri().rawAuthority, headerPairs(request)) }
        val applied = injection.applyTo(request, accepted, null)
        assertTrue(applied != null, "$name: java.net.http holds what OkHttp holds")
        applied!!
        for ((n, v) in injected) assertEquals(listOf(v), applied.headers().allValues(n), "$name (java): $n")
        val untouched = headers.filter { (n, _) -> injected.none { it.first.equals(n, ignoreCase = true) } }
        for ((n, v) in untouched) assertEquals(listOf(v), applied.headers().allValues(n), "$name (java): the caller's $n")
        val url = (expect["url"]?.asText() ?: node["url"].asText()).toHttpUrl()
        assertEquals(url, applied.uri().toString().toHttpUrl(), "$name (java): url")
    }

    private fun okRequest(node: JsonNode, headers: List<Pair<String, String>>, body: ByteArray?): Request {
        val method = node["method"].asText()
        val requestBody = body?.toRequestBody() ?: if (method in setOf("POST", "PUT", "PATCH")) ByteArray(0).toRequestBody() else null
        return Request.Builder().url(node["url"].asText()).method(method, requestBody)
            .apply { headers.forEach { (n, v) -> addHeader(n, v) } }.build()
    }
}
