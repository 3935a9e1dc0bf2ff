package dev.nexus.sdk.bench

import com.fasterxml.jackson.databind.JsonNode
import dev.nexus.sdk.CoarseClock
import dev.nexus.sdk.JSON
import dev.nexus.sdk.Loopback
import dev.nexus.sdk.NexusClient
import dev.nexus.sdk.NexusClientOptions
import dev.nexus.sdk.NexusInterceptor
import dev.nexus.sdk.Reply
import dev.nexus.sdk.TokenCache
import dev.nexus.sdk.ffi.coarseClockNowMs
import dev.nexus.sdk.ffi.coarseClockWorstTickGapNanos
import dev.nexus.sdk.ffi.UniffiRustCallStatus
import dev.nexus.sdk.resolveBody
import okhttp3.OkHttpClient
import okhttp3.Request
import java.io.File
import java.lang.management.ManagementFactory
import java.util.concurrent.ConcurrentHashMap

/**
 * Benchmarks for BENCHMARKS.md (not part of the test suite; run by bindings-jvm/bench.sh), all in
 * one JVM and one run so that each figure sits beside its floor:
 * 1. a cache hit from Java/Kotlin (`getCachedTokenBlocking`) against a ConcurrentHashMap lookup
 *    of the same key, that lookup plus `System.nanoTime()`, and that lookup plus the coarse
 *    clock's check (the floor of the hit, which compares its deadline with [CoarseClock]);
 *    then the one native call (`peekCached`) a miss of the JVM's copy still costs;
 * 2. an authenticated GET through OkHttp to a loopback server: without the interceptor, with it
 *    for a bearer credential (the core's request-independent injection, held), and with it for
 *    an hmac_payload credential (signed by the core per request; for reference).
 * `okhttp` as the first argument runs only the second part.
 *
 * Both parts run many short rounds with the variants interleaved (their order alternating), and
 * report the median and spread of the per-round ratio: a load change on the machine hits both
 * sides of a ratio alike. Each round is timed in wall time and in CPU time (the thread's for the
 * hit loops, the process's for the HTTP rounds, which includes the loopback server and GC): CPU
 * time barely moves with the machine's load. Every result is consumed so the JIT keeps the work.
 */
object JvmBench {
    private var sink = 0L
    private val threads = ManagementFactory.getThreadMXBean()
    private val os = ManagementFactory.getOperatingSystemMXBean() as com.sun.management.OperatingSystemMXBean

    /** One round's cost per op: wall ns and CPU ns (this thread's or, with [process], the process's). */
    private class Cost(val wall: Double, val cpu: Double)

    /**
     * A variant runs `n` ops and returns a sum of their results. Each variant's loop is its own
     * lambda with the op inlined ([ops]), so no variant pays a megamorphic call per op.
     */
    private inline fun ops(n: Int, op: () -> Int): Long {
        var sum = 0L
        repeat(n) { sum += op() }
        return sum
    }

    /**
     * CPU time of every Java thread (the caller, OkHttp's, the loopback servers'), in ns. The
     * process's own counter ticks in 10 ms here, too coarse for a round; this misses GC and JIT
     * threads and threads that ended during the round.
     */
    private fun javaThreadsCpu(): Long = threads.allThreadIds.sumOf { id -> threads.getThreadCpuTime(id).coerceAtLeast(0) }

    private fun round(ops: Int, process: Boolean = false, run: (Int) -> Long): Cost {
        val cpu0 = if (process) javaThreadsCpu() else threads.currentThreadCpuTime
        val start = System.nanoTime()
        sink += run(ops)
        val wall = System.nanoTime() - start
        val cpu = (if (process) javaThreadsCpu() else threads.currentThreadCpuTime) - cpu0
        return Cost(wall.toDouble() / ops, cpu.toDouble() / ops)
    }

    private fun List<Double>.pct(p: Int): Double = sorted()[((size - 1) * p) / 100]

    /** "median (p10–p90)" of [values], formatted with [fmt]. */
    private fun spread(values: List<Double>, fmt: String = "%.2f"): String =
        "${fmt.format(values.pct(50))} (p10–p90 ${fmt.format(values.pct(10))}–${fmt.format(values.pct(90))})"

    /**
     * [rounds] rounds of [ops] ops of every variant, interleaved, the order reversed every other
     * round; returns each variant's per-round costs.
     */
    private fun interleaved(
        rounds: Int,
        ops: Int,
        process: Boolean,
        variants: List<Pair<String, (Int) -> Long>>,
    ): Map<String, List<Cost>> {
        val costs = variants.associate { it.first to mutableListOf<Cost>() }
        repeat(rounds) { r ->
            val order = if (r % 2 == 0) variants else variants.reversed()
            for ((name, op) in order) costs.getValue(name) += round(ops, process, op)
        }
        return costs
    }

    private fun ratios(costs: Map<String, List<Cost>>, a: String, b: String, cpu: Boolean): List<Double> =
        costs.getValue(a).zip(costs.getValue(b)).map { (x, y) -> if (cpu) x.cpu / y.cpu else x.wall / y.wall }

    private fun medianOf(costs: List<Cost>, cpu: Boolean) = costs.map { if (cpu) it.cpu else it.wall }.pct(50)

    private fun hmacBody(): JsonNode = JSON.readTree(
        """{"token_type":"Bearer","strategy":{"type":"hmac_payload","config":{"header_name":"X-Signature"}},
           "credentials":{"secret":"whsec_bench"},"expires_in":3600}""",
    )

    @JvmStatic
    fun main(args: Array<String>) {
        val started = System.nanoTime()
        val cpuStarted = os.processCpuTime
        println("load average at start: %.2f".format(os.systemLoadAverage))
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
        val wall = (System.nanoTime() - started) / 1e9
        println("bench wall time: %.0f s, process CPU %.0f s; load average at end: %.2f".format(wall, (os.processCpuTime - cpuStarted) / 1e9, os.systemLoadAverage))
        // The ticker is the core's (a native thread, not a Java one): found by its name in /proc.
        val ticker = File("/proc/self/task").listFiles().orEmpty().firstOrNull { task ->
            runCatching { File(task, "comm").readText().trim() == "nexus-coarse-cl" }.getOrDefault(false)
        }
        val gap = "worst tick gap %.1f ms (the core's window 10000 ms)".format(coarseClockWorstTickGapNanos().toLong() / 1e6)
        if (ticker == null) {
            println("coarse clock ticker (core): not running (ended after a stall), hits read the real clock; $gap")
        } else {
            // utime + stime, in clock ticks (100 Hz), after the name and its parentheses.
            val fields = File(ticker, "stat").readText().substringAfterLast(')').trim().split(' ')
            val cpu = (fields[11].toLong() + fields[12].toLong()) / 100.0
            println("coarse clock ticker (core): CPU %.2f s over the run (%.3f %% of one core); %s".format(cpu, 100 * cpu / wall, gap))
        }
        if (sink == 42L) println()
    }

    private fun hits(client: NexusClient, cache: TokenCache) {
        val map = ConcurrentHashMap<Pair<String, String>, String>()
        map["ws_bench" to "github"] = "tok_bench"
        val coarse = CoarseClock.SYSTEM
        // A deadline an hour ahead, as a held copy's is for most of its life, and its
        // `coarseUntil` as the core computes it (the deadline minus the 10 s window).
        val deadline = coarse.precise() + 3_600_000_000_000L
        val coarseUntil = coarseClockNowMs() + 3_600_000.0 - 10_000.0
        val variants = listOf<Pair<String, (Int) -> Long>>(
            "hit" to { n -> ops(n) { client.getCachedTokenBlocking(cache, "ws_bench", "github").generation.toInt() } },
            "map" to { n -> ops(n) { map["ws_bench" to "github"]!!.length } },
            // The floor of a hit that reads the real clock (the hit before the coarse clock).
            "map+nanoTime" to { n -> ops(n) { map["ws_bench" to "github"]!!.length + System.nanoTime().toInt() } },
            // The floor of this hit: the lookup plus the coarse clock's deadline check.
            "map+coarse" to { n -> ops(n) { map["ws_bench" to "github"]!!.length + (if (coarse.before(coarseUntil, deadline)) 1 else 0) } },
            "nanoTime" to { n -> ops(n) { System.nanoTime().toInt() } },
        )
        interleaved(10, 1_000_000, false, variants) // warm-up: JIT, the ticker running
        val costs = interleaved(31, 1_000_000, false, variants)
        for (cpu in listOf(true, false)) {
            val kind = if (cpu) "thread CPU" else "wall"
            println("--- hit path, 31 interleaved rounds of 1,000,000 ops, $kind ns/op (median of rounds) ---")
            for ((name, _) in variants) println("%-14s %.1f ns/op".format(name, medianOf(costs.getValue(name), cpu)))
            println("per-round ratio hit / map:          ${spread(ratios(costs, "hit", "map", cpu))}  (goal <= 3)")
            println("per-round ratio hit / map+coarse:   ${spread(ratios(costs, "hit", "map+coarse", cpu))}  (the floor of this hit)")
            println("per-round ratio hit / map+nanoTime: ${spread(ratios(costs, "hit", "map+nanoTime", cpu))}")
            println("per-round ratio map+coarse / map:   ${spread(ratios(costs, "map+coarse", "map", cpu))}")
        }
        // The native call a miss of the JVM's copy makes (and each hit made before the copies),
        // beside the smallest UniFFI method call of the binding (a u16 in, a bool out, no buffer):
        // the difference is what peekCached's answer (a token object and a buffer) adds.
        val calls = listOf<Pair<String, (Int) -> Long>>(
            "peekCached" to { n -> ops(n) { client.native.peekCached(cache.native, "ws_bench", "github")!!.token.use { 1 } } },
            "isRejection" to { n -> ops(n) { if (client.native.isRejection(401u)) 1 else 0 } },
            // What each of those FFI calls allocates on the JVM side (JNA Structure: reflection
            // over its fields, native memory tracked by a cleaner), without the call.
            "UniffiRustCallStatus()" to { n -> ops(n) { UniffiRustCallStatus().code.toInt() } },
        )
        interleaved(3, 2_000, true, calls)
        val c = interleaved(11, 2_000, true, calls)
        for ((name, _) in calls) {
            println(
                "native %s: wall %.0f ns/op, CPU of all Java threads %.0f ns/op (median of 11 interleaved rounds of 2,000)".format(
                    name,
                    medianOf(c.getValue(name), false),
                    medianOf(c.getValue(name), true),
                ),
            )
        }
    }

    private fun okHttp(upstream: Loopback, client: NexusClient, cache: TokenCache) {
        val plain = OkHttpClient()
        val bearer = OkHttpClient.Builder().addInterceptor(NexusInterceptor(client, cache, "ws_bench", "github")).build()
        val signed = OkHttpClient.Builder().addInterceptor(NexusInterceptor(client, cache, "ws_bench", "signed")).build()
        val url = "${upstream.url}/resource"
        val get = { http: OkHttpClient -> http.newCall(Request.Builder().url(url).build()).execute().use { it.code } }
        val pair = listOf<Pair<String, (Int) -> Long>>("plain" to { n -> ops(n) { get(plain) } }, "bearer" to { n -> ops(n) { get(bearer) } })
        val signedRun: (Int) -> Long = { n -> ops(n) { get(signed) } }
        interleaved(10, 200, true, pair + ("signed" to signedRun)) // warm-up
        val costs = interleaved(151, 300, true, pair)
        for (cpu in listOf(true, false)) {
            val kind = if (cpu) "Java threads' CPU" else "wall"
            val plainUs = medianOf(costs.getValue("plain"), cpu) / 1000
            val bearerUs = medianOf(costs.getValue("bearer"), cpu) / 1000
            println("--- OkHttp GET loopback, 151 rounds of 300 requests, plain/bearer alternating, $kind per request ---")
            println("plain: %.1f us; NexusInterceptor bearer (held injection): %.1f us (medians of rounds)".format(plainUs, bearerUs))
            val overhead = ratios(costs, "bearer", "plain", cpu).map { 100 * (it - 1) }
            println("per-round overhead bearer vs plain: ${spread(overhead, "%+.1f %%")}  (goal < 5 %)")
            val total = { name: String -> costs.getValue(name).sumOf { if (cpu) it.cpu else it.wall } }
            println("pooled over all rounds (sum bearer / sum plain): %+.1f %%".format(100 * (total("bearer") / total("plain") - 1)))
        }
        // For reference: the signing strategy makes one prepare FFI call per request.
        val ref = interleaved(11, 200, true, pair.take(1) + ("signed" to signedRun))
        val over = ratios(ref, "signed", "plain", true).map { 100 * (it - 1) }
        println(
            "reference, NexusInterceptor hmac_payload (core prepare per request), 11 rounds: CPU %.1f us vs plain %.1f us; per-round overhead ".format(
                medianOf(ref.getValue("signed"), true) / 1000,
                medianOf(ref.getValue("plain"), true) / 1000,
            ) + spread(over, "%+.0f %%"),
        )
    }
}
