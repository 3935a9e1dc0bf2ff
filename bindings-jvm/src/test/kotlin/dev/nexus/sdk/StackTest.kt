package dev.nexus.sdk

import com.fasterxml.jackson.databind.JsonNode
import okhttp3.MediaType.Companion.toMediaType
import okhttp3.OkHttpClient
import okhttp3.Request
import okhttp3.RequestBody.Companion.toRequestBody
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assumptions.assumeTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows
import java.io.File
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.util.concurrent.TimeUnit

/**
 * End to end against the real stack: `nexus dev` (broker + gateway on SQLite) from NEXUS_BIN, and
 * the testkit's OAuth provider and echo upstream from NEXUS_TESTKIT_BIN, all on loopback. Skipped
 * without the binaries, unless NEXUS_REQUIRE_STACK=1 (CI), where that fails.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class StackTest {
    private val processes = mutableListOf<Process>()
    private lateinit var env: Map<String, String>
    private lateinit var echoUrl: String
    private lateinit var oauthUrl: String
    private val http = HttpClient.newHttpClient()

    private val workspace get() = env.getValue("NEXUS_WORKSPACE_ID")

    @BeforeAll
    fun start() {
        val nexus = System.getenv("NEXUS_BIN")?.let(::File)
        val testkit = System.getenv("NEXUS_TESTKIT_BIN")?.let(::File)
        val present = nexus?.canExecute() == true && testkit?.canExecute() == true
        if (System.getenv("NEXUS_REQUIRE_STACK") == "1") {
            check(present) { "stack binaries missing (NEXUS_BIN=$nexus, NEXUS_TESTKIT_BIN=$testkit)" }
        }
        assumeTrue(present, "stack binaries missing")
        val home = Files.createTempDirectory("nexus-jvm-stack").toFile()
        val log = File(home, "stack.log")
        val dev = ProcessBuilder(
            nexus!!.path, "dev", "--home", home.path,
            "--gateway-addr", "127.0.0.1:0", "--broker-addr", "127.0.0.1:0",
        ).redirectInput(ProcessBuilder.Redirect.from(File("/dev/null")))
            .redirectOutput(ProcessBuilder.Redirect.appendTo(log))
            .redirectErrorStream(true)
            .start()
        processes += dev
        val envFile = File(home, "dev.env")
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90)
        while (!envFile.exists()) {
            check(dev.isAlive) { "nexus dev exited: ${log.readText()}" }
            check(System.nanoTime() < deadline) { "dev.env did not appear" }
            Thread.sleep(50) // poll loop with a deadline for a file another process writes
        }
        env = envFile.readLines().filter { "=" in it && !it.startsWith("#") }
            .associate { it.substringBefore('=') to it.substringAfter('=') }
        val echo = testkit(testkit!!, "echo", log)
        val oauth = testkit(testkit, "oauth", log)
        echoUrl = echo["url"].asText()
        oauthUrl = oauth["url"].asText()

        admin("POST", "/admin/v1/providers", mapOf(
            "name" to "echo-key", "auth_type" to "api_key", "api_base_url" to echoUrl,
            "strategy" to mapOf("type" to "header", "config" to mapOf("header_name" to "Authorization")),
        ))
        admin("POST", "/admin/v1/workspaces/$workspace/connections/import",
            mapOf("provider_name" to "echo-key", "kind" to "api_key", "secret" to STATIC_SECRET))
        admin("POST", "/admin/v1/providers", mapOf(
            "name" to "fake-oauth", "auth_type" to "oauth2",
            "client_id" to oauth["client_id"].asText(), "client_secret" to oauth["client_secret"].asText(),
            "auth_url" to oauth["authorization_endpoint"].asText(), "token_url" to oauth["token_endpoint"].asText(),
            "api_base_url" to echoUrl,
        ))
        val issued = call("POST", "$oauthUrl/_control/issue", "-", emptyMap<String, Any>())
        admin("POST", "/admin/v1/workspaces/$workspace/connections/import", mapOf(
            "provider_name" to "fake-oauth", "kind" to "refresh_token", "secret" to issued["refresh_token"].asText(),
        ))
    }

    @AfterAll
    fun stop() {
        processes.forEach { it.destroy() }
        processes.forEach { if (!it.waitFor(10, TimeUnit.SECONDS)) it.destroyForcibly() }
    }

    private fun testkit(binary: File, kind: String, log: File): JsonNode {
        // stdin stays open: the testkit exits when it closes.
        val p = ProcessBuilder(binary.path, kind).redirectError(ProcessBuilder.Redirect.appendTo(log)).start()
        processes += p
        val line = p.inputStream.bufferedReader().readLine() ?: error("nexus-testkit $kind did not announce itself")
        return JSON.readTree(line)
    }

    private fun call(method: String, url: String, token: String, body: Any?): JsonNode {
        val request = HttpRequest.newBuilder(URI.create(url))
            .header("Authorization", "Bearer $token").header("Content-Type", "application/json")
            .method(method, body?.let { HttpRequest.BodyPublishers.ofByteArray(JSON.writeValueAsBytes(it)) } ?: HttpRequest.BodyPublishers.noBody())
            .build()
        val response = http.send(request, HttpResponse.BodyHandlers.ofString())
        check(response.statusCode() in 200..299) { "$method $url: ${response.statusCode()} ${response.body()}" }
        return if (response.body().isEmpty()) JSON.nullNode() else JSON.readTree(response.body())
    }

    private fun admin(method: String, path: String, body: Any?) =
        call(method, env.getValue("NEXUS_BROKER_URL") + path, env.getValue("NEXUS_ADMIN_TOKEN"), body)

    private fun echoRequire(requirement: Map<String, String>) = call("POST", "$echoUrl/_control/require", "-", requirement)

    private fun client() = NexusClient(NexusClientOptions(gatewayUrl = env.getValue("NEXUS_GATEWAY_URL"), apiKey = env.getValue("NEXUS_API_KEY")))

    @Test
    fun staticKeyThroughTheOkHttpInterceptor() {
        client().use { client ->
            TokenCache().use { cache ->
                val token = client.getCachedTokenBlocking(cache, workspace, "echo-key")
                assertEquals(echoUrl, token.apiBaseUrl)
                val ok = OkHttpClient.Builder().addInterceptor(NexusInterceptor(client, cache, workspace, "echo-key")).build()
                echoRequire(mapOf("kind" to "header", "name" to "authorization", "value" to "Bearer $STATIC_SECRET"))
                try {
                    val request = Request.Builder().url("$echoUrl/v1/items?a=1")
                        .post("""{"x":1}""".toRequestBody("application/json".toMediaType())).build()
                    ok.newCall(request).execute().use { response ->
                        assertEquals(200, response.code)
                        val echoed = JSON.readTree(response.body.string())
                        assertEquals("Bearer $STATIC_SECRET", echoed["headers"]["authorization"].asText())
                        assertEquals("""{"x":1}""", echoed["body"].asText())
                    }
                } finally {
                    echoRequire(mapOf("kind" to "none"))
                }
            }
        }
    }

    @Test
    fun oauth401ForcesOneRefreshThroughTheRealStack() {
        client().use { client ->
            TokenCache().use { cache ->
                val token = client.getCachedTokenBlocking(cache, workspace, "fake-oauth")
                assertTrue(token.accessToken!!.startsWith("at_"))
                val before = call("GET", "$oauthUrl/_control/stats", "-", null)
                // The upstream accepts no token a refresh can produce: 401, one forced refresh
                // (gateway → broker → provider), one retry, and the second 401 is returned.
                echoRequire(mapOf("kind" to "header", "name" to "authorization", "value" to "Bearer never"))
                try {
                    val helper = NexusHttpClient(client, cache, workspace, "fake-oauth")
                    val response = helper.send(HttpRequest.newBuilder(URI.create("$echoUrl/x")).build(), HttpResponse.BodyHandlers.ofString())
                    assertEquals(401, response.statusCode())
                } finally {
                    echoRequire(mapOf("kind" to "none"))
                }
                assertNotEquals(before, call("GET", "$oauthUrl/_control/stats", "-", null))
                assertNotEquals(token.accessToken, client.getCachedTokenBlocking(cache, workspace, "fake-oauth").accessToken)
            }
        }
    }

    @Test
    fun unknownProviderIsTyped() {
        client().use { client ->
            val e = assertThrows<ProviderNotFoundException> { client.resolveTokenBlocking(workspace, "no-such-provider") }
            assertEquals("provider_not_found", e.code)
            assertEquals(404, e.statusCode)
            assertTrue(e.requestId != null)
        }
    }

    @Test
    fun wrongApiKeyIsUnauthorized() {
        NexusClient(NexusClientOptions(gatewayUrl = env.getValue("NEXUS_GATEWAY_URL"), apiKey = "nxk_wrong")).use { client ->
            assertThrows<UnauthorizedException> { client.resolveTokenBlocking(workspace, "echo-key") }
        }
    }

    private companion object {
        const val STATIC_SECRET = "static-secret-1"
    }
}
