package dev.nexus.sdk

import dev.nexus.sdk.ffi.NativeRequestIndependent
import okhttp3.HttpUrl.Companion.toHttpUrl
import okhttp3.Request
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicInteger

/**
 * The core's answer that a token's injection does not depend on the request (bearer, header,
 * basic, query parameter; never the signing strategies), kept on the [Token] it came from so that
 * [NexusInterceptor] applies it without a native call per request.
 *
 * It lives exactly as long as that Token object is served: the interceptor takes its token from
 * the cache on every request, and the held copy of a hit ([HeldHits]) is dropped at the core's
 * deadline, on any write to the cache (a 401 refresh, invalidate, clear, the core's fetch) and on
 * a change of principal; after that a new Token object is served, which asks the core again.
 *
 * Nothing of the strategy is decided here: the headers are the core's, set with OkHttp's own
 * "replace every header of that name, append" (the core's merge), and the query parameter is
 * used only on a URL with neither query nor fragment, where the core says its edit is an append.
 */
internal class HeldInjection private constructor(
    private val headers: List<Pair<String, String>>,
    private val queryOfBareUrl: String?,
    /** The strategy signs each request: nothing is held, every request goes through the core. */
    private val perRequest: Boolean,
) {
    /**
     * [request] with the injection applied, or null when this request needs the core: its
     * method, host or a header was never accepted by the core's request check ([accepted]), or
     * the query edit is not an append.
     */
    fun applyTo(request: Request, accepted: AcceptedRequests): Request? {
        if (perRequest || !accepted.covers(request)) return null
        val url = request.url
        val builder = request.newBuilder()
        if (queryOfBareUrl != null) {
            if (url.encodedQuery != null || url.encodedFragment != null) return null
            builder.url("$url?$queryOfBareUrl".toHttpUrl())
        }
        for ((name, value) in headers) builder.header(name, value)
        return builder.build()
    }

    companion object {
        /** The marker of a token whose strategy signs each request (or that the core refused). */
        val PER_REQUEST = HeldInjection(emptyList(), null, perRequest = true)

        fun of(fixed: NativeRequestIndependent?): HeldInjection =
            fixed?.let { f -> HeldInjection(f.headers.map { it.name to it.value }, f.queryOfBareUrl, perRequest = false) } ?: PER_REQUEST
    }
}

/**
 * The methods, URL hosts and header (name, value) pairs of requests the core's request check
 * accepted (an HTTP-token method and header names, values without control characters, an absolute
 * http(s) URL). Each is checked on its own by the core, so a request made only of accepted parts
 * passes it too; the check is not repeated in Kotlin. Bounded: past [LIMIT] parts, requests with
 * new ones keep going through the core.
 */
internal class AcceptedRequests {
    private val methods = ConcurrentHashMap.newKeySet<String>()
    private val hosts = ConcurrentHashMap.newKeySet<String>()
    private val headers = ConcurrentHashMap<String, MutableSet<String>>()
    private val size = AtomicInteger()

    fun covers(request: Request): Boolean {
        if (request.method !in methods || request.url.host !in hosts) return false
        val h = request.headers
        for (i in 0 until h.size) {
            if (headers[h.name(i)]?.contains(h.value(i)) != true) return false
        }
        return true
    }

    /** Record the parts of [request], which the core's `prepare` just accepted. */
    fun accept(request: Request) {
        if (size.get() >= LIMIT) return
        add(methods, request.method)
        add(hosts, request.url.host)
        val h = request.headers
        for (i in 0 until h.size) add(headers.computeIfAbsent(h.name(i)) { ConcurrentHashMap.newKeySet() }, h.value(i))
    }

    private fun add(set: MutableSet<String>, value: String) {
        if (value in set || size.get() >= LIMIT) return
        if (set.add(value)) size.incrementAndGet()
    }

    private companion object {
        const val LIMIT = 256
    }
}
