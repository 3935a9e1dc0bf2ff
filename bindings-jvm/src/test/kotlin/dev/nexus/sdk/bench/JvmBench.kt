package dev.nexus.sdk.bench

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
 * Benchmarks for BENCHMARKS.md (not part of the test suite; run by bindings-jvm/bench.sh):
 * 1. a cache hit from Java/Kotlin (`getCachedTokenBlocking`) against a ConcurrentHashMap lookup
 *    of the same key, and that lookup plus a clock read, in the same JVM and run; and the one
 *    native call (`peekCached`) a hit made before the JVM held copies of hits;
 * 2. an authenticated GET through OkHttp with NexusInterceptor against the same GET without it,
 *    both to a loopback server.
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

    @JvmStatic
    fun main(args: Array<String>) {
        Loopback { r -> if (r.path == "/v1/resolve") Reply.json(200, resolveBody("tok_bench")) else Reply(200, "ok".toByteArray()) }.use { server ->
            NexusClient(NexusClientOptions(gatewayUrl = server.url, apiKey = "nxk_bench")).use { client ->
                TokenCache().use { cache ->
                    client.getCachedTokenBlocking(cache, "ws_bench", "github")
                    if (args.firstOrNull() != "okhttp") hits(client, cache)
                    okHttp(server, client, cache)
                }
            }
        }
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
        repeat(3) { median(5, 2_000_000, hit); median(5, 2_000_000, lookup); median(5, 2_000_000, lookupAndClock) }
        val hitNs = median(9, 2_000_000, hit)
        val mapNs = median(9, 2_000_000, lookup)
        val clockNs = median(9, 2_000_000, lookupAndClock)
        println("cache hit (getCachedTokenBlocking): %.1f ns/op".format(hitNs))
        println("ConcurrentHashMap lookup (same key): %.1f ns/op".format(mapNs))
        println("ConcurrentHashMap lookup + System.nanoTime(): %.1f ns/op".format(clockNs))
        println("ratio to the map: %.1fx; to map + clock: %.1fx".format(hitNs / mapNs, hitNs / clockNs))
        // The former hit path, for comparison: one UniFFI call answering the core's hit
        // (what a miss of the JVM's copy still costs).
        val peek = { client.native.peekCached(cache.native, "ws_bench", "github")!!.token.use { 1 } }
        repeat(3) { median(5, 20_000, peek) }
        println("native peekCached (one FFI call): %.1f ns/op".format(median(9, 20_000, peek)))
    }

    private fun okHttp(server: Loopback, client: NexusClient, cache: TokenCache) {
        val plain = OkHttpClient()
        val authed = OkHttpClient.Builder().addInterceptor(NexusInterceptor(client, cache, "ws_bench", "github")).build()
        val url = "${server.url}/resource"
        val get = { http: OkHttpClient -> http.newCall(Request.Builder().url(url).build()).execute().use { it.code } }
        repeat(3) { median(5, 500, { get(plain) }); median(5, 500, { get(authed) }) }
        val plainNs = median(9, 500) { get(plain) }
        val authedNs = median(9, 500) { get(authed) }
        println("OkHttp GET loopback, plain: %.1f us/op".format(plainNs / 1000))
        println("OkHttp GET loopback, with NexusInterceptor: %.1f us/op".format(authedNs / 1000))
        println("interceptor overhead: %.1f us (%.1f %%)".format((authedNs - plainNs) / 1000, 100 * (authedNs - plainNs) / plainNs))
    }
}
