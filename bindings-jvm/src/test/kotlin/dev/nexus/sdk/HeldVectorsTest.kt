package dev.nexus.sdk

import com.fasterxml.jackson.databind.JsonNode
import dev.nexus.sdk.ffi.NativeHeader
import dev.nexus.sdk.ffi.NativeRequest
import dev.nexus.sdk.ffi.applyResolveBody
import okhttp3.HttpUrl.Companion.toHttpUrl
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
        }
        assertTrue(held >= 15, "held cases: $held")
        assertTrue(perRequest >= 4, "signing cases: $perRequest")
    }

    private fun okRequest(node: JsonNode, headers: List<Pair<String, String>>, body: ByteArray?): Request {
        val method = node["method"].asText()
        val requestBody = body?.toRequestBody() ?: if (method in setOf("POST", "PUT", "PATCH")) ByteArray(0).toRequestBody() else null
        return Request.Builder().url(node["url"].asText()).method(method, requestBody)
            .apply { headers.forEach { (n, v) -> addHeader(n, v) } }.build()
    }
}
