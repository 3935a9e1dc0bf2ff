package dev.nexus.sdk

import dev.nexus.sdk.ffi.NativeRequestIndependent
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicInteger

/**
 * The core's answer that a token's injection does not depend on the request (bearer, header,
 * basic, query parameter; never the signing strategies), kept on the [Token] it came from so that
 * [NexusInterceptor] (OkHttp) and [NexusHttpClient] (java.net.http) apply it without a native
 * call per request.
 *
 * It lives exactly as long as that Token object is served: both take their token from the cache
 * on every request, and the held copy of a hit ([HeldHits]) is dropped at the core's deadline, on
 * any write to the cache (a 401 refresh, invalidate, clear, the core's fetch) and on a change of
 * principal; after that a new Token object is served, which asks the core again.
 *
 * Nothing of the strategy is decided here, and the rule for when the held answer may be used is
 * only here (the two HTTP clients only build requests): the headers are the core's, merged the
 * core's way (every caller header of that name, in any case, is replaced; then the core's are
 * appended); the query parameter is used only on a URL with neither query nor fragment, where
 * the core says its edit is an append; and the request must be made of parts the core's request
 * check already accepted ([AcceptedRequests]).
 */
internal class HeldInjection private constructor(
    /** The core's headers, in its order. */
    val headers: List<Pair<String, String>>,
    /** The encoded `name=value` the core appends to a URL with neither query nor fragment. */
    val queryOfBareUrl: String?,
    /** The strategy signs each request: nothing is held, every request goes through the core. */
    val perRequest: Boolean,
) {
    /**
     * Whether the held answer authenticates a request with [method], URL [host] (the HTTP
     * client's own key for it, as given to [AcceptedRequests.accept]), [bareUrl] (no query, no
     * fragment) and [headers] (name, value at index i), which [accepted] recorded.
     */
    inline fun serves(
        accepted: AcceptedRequests,
        method: String,
        host: String?,
        bareUrl: Boolean,
        headerCount: Int,
        headerName: (Int) -> String,
        headerValue: (Int) -> String,
    ): Boolean {
        if (perRequest || (queryOfBareUrl != null && !bareUrl) || host == null) return false
        if (!accepted.coversTarget(method, host)) return false
        for (i in 0 until headerCount) if (!accepted.coversHeader(headerName(i), headerValue(i))) return false
        return true
    }

    /** Whether the core's merge replaces the caller's header [name]. */
    fun replaces(name: String): Boolean = headers.any { it.first.equals(name, ignoreCase = true) }

    companion object {
        /** The marker of a token whose strategy signs each request (or that the core refused). */
        val PER_REQUEST = HeldInjection(emptyList(), null, perRequest = true)

        fun of(fixed: NativeRequestIndependent?): HeldInjection =
            fixed?.let { f -> HeldInjection(f.headers.map { it.name to it.value }, f.queryOfBareUrl, perRequest = false) } ?: PER_REQUEST

        /** [token]'s held answer, asked of the core once per Token object. */
        fun of(token: Token): HeldInjection =
            token.injection ?: try {
                of(native { token.native.requestIndependent() })
            } catch (e: NexusException) {
                // The core's prepare raises the same error, typed, on this request.
                PER_REQUEST
            }.also { token.injection = it }
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

    fun coversTarget(method: String, host: String): Boolean = method in methods && host in hosts

    fun coversHeader(headerName: String, headerValue: String): Boolean = headers[headerName]?.contains(headerValue) == true

    /** Record the parts of a request the core's `prepare` just accepted. */
    fun accept(method: String, host: String?, headerPairs: Iterable<Pair<String, String>>) {
        if (size.get() >= LIMIT) return
        add(methods, method)
        host?.let { add(hosts, it) }
        for ((name, value) in headerPairs) add(headers.computeIfAbsent(name) { ConcurrentHashMap.newKeySet() }, value)
    }

    private fun add(set: MutableSet<String>, value: String) {
        if (value in set || size.get() >= LIMIT) return
        if (set.add(value)) size.incrementAndGet()
    }

    private companion object {
        const val LIMIT = 256
    }
}
