package dev.nexus.sdk.bench

import com.fasterxml.jackson.databind.JsonNode
import dev.nexus.sdk.JSON
import dev.nexus.sdk.Loopback
import dev.nexus.sdk.NexusClient
import dev.nexus.sdk.NexusClientOptions
import dev.nexus.sdk.NexusInterceptor
import dev.nexus.sdk.Reply
import dev.nexus.sdk.TokenCache
import dev.nexus.sdk.resolveBody
import okhttp3.OkHttpClient
import okhttp3.Request
import java.util.concurrent.ConcurrentHashMap

/**
 * Benchmarks for BENCHMARKS.md (not part of the test suite; run by bindings-jvm/bench.sh), all in
 * one JVM and one run so that each figure sits beside its floor:
 * 1. a cache hit from Java/Kotlin (`getCachedTokenBlocking`) against a ConcurrentHashMap lookup
 *    of the same key, that lookup plus a clock read (the floor of any hit that checks an expiry),
 *    and `System.nanoTime()` alone; and the one native call (`peekCached`) a hit made before the
 *    JVM held copies of hits (what a miss of the copy still costs);
 * 2. an authenticated GET through OkHttp to a loopback server: without the interceptor, with it
 *    for a bearer credential (the core's request-independent injection, held), and with it for
 *    an hmac_payload credential (signed by the core per request; for reference).
 * `okhttp` as the first argument runs only the second part.
 * Careful loops: warm-up rounds first, then the median of several timed rounds, each result
 * consumed so the JIT cannot drop the work.
 */
object JvmBench {
    private var sink = 0L

    private fun median(rounds: Int, perRound: Int, op: () -> Int): Double {
        val times = (1..rounds).map {
            val start = System.nanoTime()
            repeat(perRound) { sink += op() }
            (System.nanoTime() - start).toDouble() / perRound
        }
        return times.sorted()[rounds / 2]
    }

    private fun hmacBody(): JsonNode = JSON.readTree(
        """{"token_type":"Bearer","strategy":{"type":"hmac_payload","config":{"header_name":"X-Signature"}},
           "credentials":{"secret":"whsec_bench"},"expires_in":3600}""",
    )

    @JvmStatic
    fun main(args: Array<String>) {
        val started = System.nanoTime()
        val gateway = Loopback { r ->
            when {
                r.path != "/v1/resolve" -> Reply(404)
                r.query?.contains("provider_name=signed") == true -> Reply.json(200, hmacBody())
                else -> Reply.json(200, resolveBody("tok_bench"))
            }
        }
        val upstream = Loopback { Reply(200, "ok".toByteArray()) }
        gateway.use {
            upstream.use {
                NexusClient(NexusClientOptions(gatewayUrl = gateway.url, apiKey = "nxk_bench")).use { client ->
                    TokenCache().use { cache ->
                        client.getCachedTokenBlocking(cache, "ws_bench", "github")
                        if (args.firstOrNull() != "okhttp") hits(client, cache)
                        okHttp(upstream, client, cache)
                    }
                }
            }
        }
        println("bench wall time: %.0f s".format((System.nanoTime() - started) / 1e9))
        if (sink == 42L) println()
    }

    private fun hits(client: NexusClient, cache: TokenCache) {
        val map = ConcurrentHashMap<Pair<String, String>, String>()
        map["ws_bench" to "github"] = "tok_bench"
        val hit = { client.getCachedTokenBlocking(cache, "ws_bench", "github").generation.toInt() }
        val lookup = { map["ws_bench" to "github"]!!.length }
        // The floor of any hit that checks an expiry: the lookup plus one monotonic
        // clock read (the held copy's deadline is compared with System.nanoTime()).
        val lookupAndClock = { map["ws_bench" to "github"]!!.length + System.nanoTime().toInt() }
        val clock = { System.nanoTime().toInt() }
        repeat(3) {
            median(5, 2_000_000, hit)
            median(5, 2_000_000, lookup)
            median(5, 2_000_000, lookupAndClock)
            median(5, 2_000_000, clock)
        }
        val hitNs = median(9, 2_000_000, hit)
        val mapNs = median(9, 2_000_000, lookup)
        val floorNs = median(9, 2_000_000, lookupAndClock)
        val clockNs = median(9, 2_000_000, clock)
        println("cache hit (getCachedTokenBlocking): %.1f ns/op".format(hitNs))
        println("ConcurrentHashMap lookup (same key): %.1f ns/op".format(mapNs))
        println("ConcurrentHashMap lookup + System.nanoTime(): %.1f ns/op".format(floorNs))
        println("System.nanoTime() alone: %.1f ns/op".format(clockNs))
        println(
            "hit / map: %.1fx; hit / (map + clock): %.2fx; hit - (map + clock): %.1f ns".format(
                hitNs / mapNs,
                hitNs / floorNs,
                hitNs - floorNs,
            ),
        )
        // The former hit path, for comparison: one UniFFI call answering the core's hit
        // (what a miss of the JVM's copy still costs).
        val peek = { client.native.peekCached(cache.native, "ws_bench", "github")!!.token.use { 1 } }
        repeat(3) { median(5, 2_000, peek) }
        println("native peekCached (one FFI call): %.1f ns/op".format(median(9, 2_000, peek)))
    }

    private fun okHttp(upstream: Loopback, client: NexusClient, cache: TokenCache) {
        val plain = OkHttpClient()
        val bearer = OkHttpClient.Builder().addInterceptor(NexusInterceptor(client, cache, "ws_bench", "github")).build()
        val signed = OkHttpClient.Builder().addInterceptor(NexusInterceptor(client, cache, "ws_bench", "signed")).build()
        val url = "${upstream.url}/resource"
        val get = { http: OkHttpClient -> http.newCall(Request.Builder().url(url).build()).execute().use { it.code } }
        val clients = listOf("plain" to plain, "bearer" to bearer, "signed" to signed)
        repeat(3) { clients.forEach { (_, http) -> median(5, 500) { get(http) } } }
        // Interleaved rounds, so that a load change on the machine hits all three alike.
        val rounds = clients.associate { it.first to mutableListOf<Double>() }
        repeat(9) { clients.forEach { (name, http) -> rounds.getValue(name) += median(1, 500) { get(http) } } }
        val (plainNs, bearerNs, signedNs) = listOf("plain", "bearer", "signed").map { rounds.getValue(it).sorted()[4] }
        println("OkHttp GET loopback, plain: %.1f us/op".format(plainNs / 1000))
        println("OkHttp GET loopback, NexusInterceptor (bearer, held injection): %.1f us/op".format(bearerNs / 1000))
        println("OkHttp GET loopback, NexusInterceptor (hmac_payload, core per request): %.1f us/op".format(signedNs / 1000))
        println("interceptor overhead, bearer: %.1f us (%.1f %%)".format((bearerNs - plainNs) / 1000, 100 * (bearerNs - plainNs) / plainNs))
        println("interceptor overhead, hmac_payload: %.1f us (%.1f %%)".format((signedNs - plainNs) / 1000, 100 * (signedNs - plainNs) / plainNs))
    }
}
