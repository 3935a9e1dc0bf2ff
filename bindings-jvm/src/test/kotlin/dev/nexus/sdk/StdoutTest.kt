package dev.nexus.sdk

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.io.File
import java.util.concurrent.TimeUnit

/**
 * stdout belongs to JSON-RPC: a child JVM running [StdioProbe] (raw JSON-RPC over stdio; the
 * official MCP SDK is used by examples/jvm-mcp) with every log switched on (the core's tracing
 * at debug, SLF4J at debug) prints nothing but its JSON-RPC answers, including when the gateway
 * fails and when a Nexus error escapes `main`.
 */
class StdoutTest {
    private fun probe(mode: String, gatewayUrl: String, input: String): Triple<Int, String, String> {
        val java = File(System.getProperty("java.home"), "bin/java").path
        val err = File.createTempFile("probe", ".err")
        val process = ProcessBuilder(
            java,
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=debug",
            "-Djna.nosys=true",
            "-cp",
            System.getProperty("java.class.path"),
            StdioProbe::class.java.name,
            mode,
            gatewayUrl,
        ).redirectError(err).also { it.environment()["NEXUS_LOG"] = "debug" }.start()
        process.outputStream.use { it.write(input.toByteArray()) }
        val stdout = process.inputStream.readAllBytes().decodeToString()
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), "the probe exits")
        return Triple(process.exitValue(), stdout, err.readText().also { err.delete() })
    }

    private val session = listOf(
        """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}""",
        """{"jsonrpc":"2.0","method":"notifications/initialized"}""",
        """{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"resolve","arguments":{}}}""",
        """{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"resolve","arguments":{}}}""",
    ).joinToString("\n", postfix = "\n")

    private fun assertOnlyJsonRpc(stdout: String, ids: List<Int>) {
        val lines = stdout.lines().filter { it.isNotEmpty() }
        assertEquals(ids, lines.map { JSON.readTree(it)["id"].asInt() }, "stdout: $stdout")
        lines.forEach { assertEquals("2.0", JSON.readTree(it)["jsonrpc"].asText()) }
    }

    @Test
    fun gatewayFailuresStayOffStdout() {
        Loopback { Reply.json(409, mapOf("error" to "reauth_required", "message" to "authorize again")) }.use { gateway ->
            val (code, stdout, stderr) = probe("serve", gateway.url, session)
            assertEquals(0, code, stderr)
            assertOnlyJsonRpc(stdout, listOf(1, 2, 3))
            assertTrue(stdout.contains("error reauth_required"))
            // The logs exist, on stderr: the test would pass vacuously if nothing were logged.
            assertTrue(stderr.contains("resolve failed"), stderr)
        }
    }

    @Test
    fun successAndDebugLogsStayOffStdout() {
        Loopback { Reply.json(200, resolveBody("tok_probe")) }.use { gateway ->
            val (code, stdout, stderr) = probe("serve", gateway.url, session)
            assertEquals(0, code, stderr)
            assertOnlyJsonRpc(stdout, listOf(1, 2, 3))
            assertTrue(stdout.contains("token type Bearer"))
            assertTrue(stderr.contains("nexus_sdk") || stderr.contains("DEBUG"), stderr)
        }
    }

    @Test
    fun anEscapingErrorStaysOffStdout() {
        // A closed port: the resolve fails with a transport error that escapes main.
        val port = java.net.ServerSocket(0).use { it.localPort }
        val (code, stdout, stderr) = probe("crash", "http://127.0.0.1:$port", "")
        assertNotEquals(0, code)
        assertEquals("", stdout)
        assertTrue(stderr.contains("TransportException"), stderr)
    }
}
