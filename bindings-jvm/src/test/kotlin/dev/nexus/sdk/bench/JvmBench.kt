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
 *    of the same key, in the same JVM and run;
 * 2. an authenticated GET through OkHttp with NexusInterceptor against the same GET without it,
 *    both to a loopback server.
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
                    val map = ConcurrentHashMap<Pair<String, String>, String>()
                    map["ws_bench" to "github"] = "tok_bench"
                    val hit = { client.getCachedTokenBlocking(cache, "ws_bench", "github").generation.toInt() }
                    val lookup = { map["ws_bench" to "github"]!!.length }
                    repeat(3) { median(5, 200_000, hit); median(5, 200_000, lookup) }
                    val hitNs = median(9, 200_000, hit)
                    val mapNs = median(9, 200_000, lookup)
                    println("cache hit (getCachedTokenBlocking): %.1f ns/op".format(hitNs))
                    println("ConcurrentHashMap lookup (same key): %.1f ns/op".format(mapNs))
                    println("ratio: %.1fx".format(hitNs / mapNs))

                    val plain = OkHttpClient()
                    val authed = OkHttpClient.Builder().addInterceptor(NexusInterceptor(client, cache, "ws_bench", "github")).build()
                    val url = "${server.url}/resource"
                    val get = { http: OkHttpClient -> http.newCall(Request.Builder().url(url).build()).execute().use { it.code } }
                    repeat(3) { median(5, 2_000, { get(plain) }); median(5, 2_000, { get(authed) }) }
                    val plainNs = median(9, 2_000) { get(plain) }
                    val authedNs = median(9, 2_000) { get(authed) }
                    println("OkHttp GET loopback, plain: %.1f us/op".format(plainNs / 1000))
                    println("OkHttp GET loopback, with NexusInterceptor: %.1f us/op".format(authedNs / 1000))
                    println("interceptor overhead: %.1f us (%.1f %%)".format((authedNs - plainNs) / 1000, 100 * (authedNs - plainNs) / plainNs))
                }
            }
        }
        if (sink == 42L) println()
    }
}
