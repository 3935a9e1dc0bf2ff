package dev.nexus.sdk

import com.fasterxml.jackson.databind.JsonNode
import dev.nexus.sdk.ffi.NativeHeader
import dev.nexus.sdk.ffi.NativeRequest
import dev.nexus.sdk.ffi.applyResolveBody
import dev.nexus.sdk.ffi.parseSessionBody
import dev.nexus.sdk.ffi.raiseGatewayError
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.TestFactory
import org.junit.jupiter.api.assertThrows
import java.util.Base64

/** The shared conformance vectors (tests/vectors/) through the JVM binding. */
class VectorsTest {
    @TestFactory
    fun strategies() = cases("strategies")

    @TestFactory
    fun expiry() = cases("expiry")

    @TestFactory
    fun errors() = cases("errors")

    @TestFactory
    fun sessions(): List<DynamicTest> = cases("sessions") +
        Vectors.load("sessions")["session_cases"].map { case ->
            DynamicTest.dynamicTest("sessions/${case["name"].asText()}") { runSessionCase(case) }
        }

    private fun cases(file: String): List<DynamicTest> {
        val cases = Vectors.load(file)["cases"]
        assertTrue(cases.size() > 0, "$file has cases")
        return cases.map { case -> DynamicTest.dynamicTest("$file/${case["name"].asText()}") { runCase(case) } }
    }

    private fun runCase(case: JsonNode) {
        if (case.has("resolve_error")) return runErrorCase(case)
        val request = request(case["request"])
        val now = case["now"]?.asText() ?: "2026-11-24T12:00:00Z"
        val body = JSON.writeValueAsBytes(case["resolve"])
        val expectError = case["expect_error"]?.asText()
        if (expectError != null) {
            val e = assertThrows<NexusException> { native { applyResolveBody(body, now, request) } }
            assertEquals(expectError, e.code)
            return
        }
        val outcome = native { applyResolveBody(body, now, request) }
        val expect = case["expect"]
        val injected = outcome.injected.associate { it.name.lowercase() to it.value }
        val wanted = expect["headers"].fields().asSequence().associate { it.key.lowercase() to it.value.asText() }
        assertEquals(wanted, injected, "injected headers")
        assertEquals(expect["url"]?.asText() ?: request.url, outcome.url, "url")
        expect["ttl_seconds"]?.let { assertEquals(it.asLong(), outcome.ttlSeconds.toLong(), "ttl_seconds") }
    }

    private fun runErrorCase(case: JsonNode) {
        val error = case["resolve_error"]
        val body = error["body"].let { if (it.isTextual) it.asText().toByteArray() else JSON.writeValueAsBytes(it) }
        val headers = error["headers"]?.fields()?.asSequence()?.map { NativeHeader(it.key, it.value.asText()) }?.toList() ?: emptyList()
        val e = assertThrows<NexusException> { native { raiseGatewayError(error["status"].asInt().toUShort(), body, headers) } }
        assertEquals(case["expect_error"].asText(), e.code)
        assertEquals(ErrorTableTest.expectedClass(e.code, e.kind), e.javaClass.simpleName, "exception class")
        case["expect_error_fields"]?.fields()?.forEach { (field, value) ->
            val actual: Any? = when (field) {
                "status" -> e.statusCode
                "request_id" -> e.requestId
                "reauth_url" -> e.reauthUrl
                "retry_after" -> e.retryAfter?.seconds?.toInt()
                else -> error("unknown expect_error_fields key $field")
            }
            val expected: Any? = if (value.isNull) null else if (value.isInt) value.asInt() else value.asText()
            assertEquals(expected, actual, field)
        }
    }

    private fun runSessionCase(case: JsonNode) {
        val session = case["session"]
        val body = if (session.isTextual) session.asText().toByteArray() else JSON.writeValueAsBytes(session)
        case["expect_error"]?.let { code ->
            val e = assertThrows<NexusException> { native { parseSessionBody(body) } }
            assertEquals(code.asText(), e.code)
            return
        }
        val parsed = native { parseSessionBody(body) }
        val expect = case["expect_session"]
        assertEquals(expect["session_id"].asText(), parsed.session.sessionId)
        assertEquals(expect["expires_in"].asLong(), parsed.session.expiresIn.toLong())
        assertEquals(expect["scopes"].map { it.asText() }, parsed.session.scopes)
        assertEquals(expect["agent_id"].asText(), parsed.session.agentId)
        assertEquals(expect["sub"].asText(), parsed.session.sub)
        assertEquals(expect["act"].takeUnless { it.isNull }?.asText(), parsed.session.act)
        assertEquals(expect["renew_after_ms"].asLong(), parsed.renewAfterMs.toLong())
    }

    private fun request(node: JsonNode?): NativeRequest {
        if (node == null) return NativeRequest("GET", "https://api.example.com/v1/resource", emptyList(), null)
        val headers = node["headers"]?.fields()?.asSequence()?.map { NativeHeader(it.key, it.value.asText()) }?.toList() ?: emptyList()
        val body = node["body_base64"]?.let { Base64.getDecoder().decode(it.asText()) } ?: node["body"]?.asText()?.toByteArray()
        return NativeRequest(node["method"]?.asText() ?: "GET", node["url"].asText(), headers, body)
    }
}
