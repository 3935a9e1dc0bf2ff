package dev.nexus.sdk

import com.fasterxml.jackson.databind.JsonNode
import okhttp3.OkHttpClient
import okhttp3.Request
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.TestFactory
import java.net.URI
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.util.Collections

/**
 * tests/vectors/client_behaviour.json through every JVM entry point that sends an upstream
 * request: the core's fetch, [NexusInterceptor] (OkHttp) and [NexusHttpClient]. A scripted
 * gateway and a scripted upstream run on loopback HTTP.
 */
class BehaviourTest {
    private fun interface EntryPoint {
        /** One fetch: (status, body) or the typed exception. */
        fun fetch(client: NexusClient, cache: TokenCache, url: String): Pair<Int, String>
    }

    private val entryPoints = mapOf(
        "core_fetch" to EntryPoint { client, cache, url ->
            val r = client.fetchBlocking(cache, WS, PROVIDER, "GET", url)
            r.status to r.bodyText()
        },
        "okhttp_interceptor" to EntryPoint { client, cache, url ->
            val http = OkHttpClient.Builder().addInterceptor(NexusInterceptor(client, cache, WS, PROVIDER)).build()
            try {
                http.newCall(Request.Builder().url(url).build()).execute().use { it.code to it.body.string() }
            } catch (e: NexusIOException) {
                throw e.cause
            }
        },
        "java_http_client" to EntryPoint { client, cache, url ->
            val r = NexusHttpClient(client, cache, WS, PROVIDER)
                .send(HttpRequest.newBuilder(URI.create(url)).GET().build(), HttpResponse.BodyHandlers.ofString())
            r.statusCode() to r.body()
        },
    )

    @TestFactory
    fun behaviourCases(): List<DynamicTest> {
        val cases = Vectors.load("client_behaviour")["behaviour_cases"]
        return entryPoints.flatMap { (name, entry) ->
            cases.map { case -> DynamicTest.dynamicTest("$name/${case["name"].asText()}") { run(case, entry) } }
        }
    }

    private fun run(case: JsonNode, entry: EntryPoint) {
        val sessionToken = case["session"]?.get("session_token")?.asText()
        val resolves = case["resolves"].toList().iterator()
        val resolveCalls = Collections.synchronizedList(mutableListOf<Pair<Boolean, String>>())
        val gateway = Loopback { r ->
            when {
                r.method == "GET" && r.path == "/v1/resolve" -> {
                    val auth = when (r.headers["authorization"]) {
                        "Bearer $API_KEY" -> "api_key"
                        "Bearer $sessionToken" -> "session"
                        else -> "other"
                    }
                    resolveCalls += ((r.query ?: "").split('&').contains("force_refresh=true") to auth)
                    if (!resolves.hasNext()) return@Loopback Reply(500, "resolve beyond the script".toByteArray())
                    val next = resolves.next()
                    next["resolve_error"]?.let { Reply.json(it["status"].asInt(), it["body"]) } ?: Reply.json(200, next)
                }
                r.method == "POST" && r.path == "/v1/sessions" -> Reply.json(201, case["session"])
                r.method == "DELETE" && r.path.startsWith("/v1/sessions/") -> Reply(204)
                else -> Reply(404)
            }
        }
        val answers = case["upstream"].toList().iterator()
        val upstreamAuth = Collections.synchronizedList(mutableListOf<String?>())
        val upstream = Loopback { r ->
            upstreamAuth += r.headers["authorization"]
            if (!answers.hasNext()) return@Loopback Reply(599)
            val a = answers.next()
            Reply(a["status"].asInt(), (a["body"]?.asText() ?: "").toByteArray())
        }
        gateway.use {
            upstream.use {
                val results = mutableListOf<JsonNode>()
                NexusClient(NexusClientOptions(gatewayUrl = gateway.url, apiKey = API_KEY, maxRetries = 0)).use { client ->
                    TokenCache().use { cache ->
                        for (step in case["steps"].map { it.asText() }) {
                            when (step) {
                                "fetch" -> results.add(outcome { entry.fetch(client, cache, "${upstream.url}/resource") })
                                "invalidate" -> client.invalidate(cache, WS, PROVIDER)
                                "start_session" -> client.startSessionBlocking()
                                "end_session" -> client.closeSessionBlocking()
                                else -> error("unknown step $step")
                            }
                        }
                    }
                }
                val expect = case["expect"]
                val wantCalls = expect["resolve_calls"].map { it["force_refresh"].asBoolean() to it["authorization"].asText() }
                assertEquals(wantCalls, resolveCalls.toList(), "resolve calls")
                assertEquals(expect["upstream_auth"].map { it.asText() }, upstreamAuth.toList(), "upstream Authorization")
                expect["results"].zip(results).forEachIndexed { i, (want, got) ->
                    want["status"]?.let { assertEquals(it.asInt(), got["status"].asInt(), "result $i status") }
                    want["body"]?.let { assertEquals(it.asText(), got["body"].asText(), "result $i body") }
                    want["error"]?.let {
                        assertEquals(it.asText(), got["error"]?.asText(), "result $i error")
                        assertEquals(ErrorTableTest.expectedClass(it.asText(), got["kind"].asText()), got["class"].asText())
                    }
                }
                assertEquals(expect["results"].size(), results.size, "results")
            }
        }
    }

    private fun outcome(fetch: () -> Pair<Int, String>): JsonNode = try {
        val (status, body) = fetch()
        JSON.valueToTree(mapOf("status" to status, "body" to body))
    } catch (e: NexusException) {
        JSON.valueToTree(mapOf("error" to e.code, "kind" to e.kind, "class" to e.javaClass.simpleName))
    }

    private companion object {
        const val WS = "ws_vec"
        const val PROVIDER = "github"
        const val API_KEY = "nxk_vec"
    }
}
