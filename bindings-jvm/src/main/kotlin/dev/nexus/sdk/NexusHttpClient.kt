package dev.nexus.sdk

import kotlinx.coroutines.future.await
import org.slf4j.LoggerFactory
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.util.concurrent.atomic.LongAdder

/**
 * `java.net.http.HttpClient` with the credential of one (workspace, provider) connection: each
 * request is authenticated by the core's strategy engine with the credential from [cache], and on
 * an upstream 401 refreshed once through the core ([NexusClient.replaceRejected]) and sent once
 * more. A second 401 is returned to the caller.
 *
 * As in [NexusInterceptor], the core's request-independent injection (bearer, header, basic,
 * query parameter) is kept with the held token ([HeldInjection]) and applied without a native
 * call; the signing strategies go through the core's `prepare` on every request.
 *
 * A [HttpRequest]'s body publisher cannot be read back, so the body (which the signing strategies
 * sign, and a retry re-sends) is passed as bytes beside the request.
 */
class NexusHttpClient @JvmOverloads constructor(
    private val client: NexusClient,
    private val cache: TokenCache,
    private val workspaceId: String,
    private val provider: String,
    val http: HttpClient = HttpClient.newHttpClient(),
) {
    private val accepted = AcceptedRequests()

    /** Requests authenticated by the core's `prepare` (the others used a held injection). */
    internal val preparedByCore = LongAdder()

    /** Send [request] (its method, URI, headers, timeout) with [body], authenticated. */
    @JvmOverloads
    @Throws(java.io.IOException::class, InterruptedException::class)
    fun <T> send(request: HttpRequest, handler: HttpResponse.BodyHandler<T>, body: ByteArray? = null): HttpResponse<T> {
        val token = client.getCachedTokenBlocking(cache, workspaceId, provider)
        val first = http.send(authenticate(request, token, body), handler)
        if (!client.isRejection(first.statusCode())) return first
        log.debug("upstream answered 401 for provider {}; refreshing the credential once", provider)
        val fresh = client.replaceRejectedBlocking(cache, workspaceId, provider, token)
        return http.send(authenticate(request, fresh, body), handler)
    }

    /** The suspending form of [send] (HttpClient's async send; cancellation cancels it). */
    @JvmSynthetic
    suspend fun <T> sendSuspending(request: HttpRequest, handler: HttpResponse.BodyHandler<T>, body: ByteArray? = null): HttpResponse<T> {
        val token = client.getCachedToken(cache, workspaceId, provider)
        val first = http.sendAsync(authenticate(request, token, body), handler).await()
        if (!client.isRejection(first.statusCode())) return first
        val fresh = client.replaceRejected(cache, workspaceId, provider, token)
        return http.sendAsync(authenticate(request, fresh, body), handler).await()
    }

    private fun authenticate(request: HttpRequest, token: Token, body: ByteArray?): HttpRequest =
        HeldInjection.of(token).applyTo(request, accepted, body) ?: prepared(request, token, body)

    private fun prepared(request: HttpRequest, token: Token, body: ByteArray?): HttpRequest {
        preparedByCore.increment()
        val headers = headerPairs(request)
        val prepared = client.prepare(token, request.method(), request.uri().toString(), headers, body)
        // The core accepted this request's method, URL and headers: a held injection may serve
        // requests made of them.
        accepted.accept(request.method(), request.uri().rawAuthority, headers)
        return copyRequest(request, URI.create(prepared.url), body) { false }
            .apply { prepared.headers.forEach { (name, value) -> header(name, value) } }
            .build()
    }

    private companion object {
        val log = LoggerFactory.getLogger(NexusHttpClient::class.java)
    }
}

/**
 * [request] (sent with [body]) with this held injection applied, or null when it does not serve
 * it (see [HeldInjection]).
 */
internal fun HeldInjection.applyTo(request: HttpRequest, accepted: AcceptedRequests, body: ByteArray?): HttpRequest? {
    val uri = request.uri()
    val headers = headerPairs(request)
    val bare = uri.rawQuery == null && uri.rawFragment == null
    if (!serves(accepted, request.method(), uri.rawAuthority, bare, headers.size, { headers[it].first }, { headers[it].second })) return null
    val target = queryOfBareUrl?.let { URI.create("$uri?$it") } ?: uri
    // The core's merge: the caller's headers of an injected name (any case) go, then the core's
    // are appended.
    return copyRequest(request, target, body) { name -> !replaces(name) }
        .apply { this@applyTo.headers.forEach { (name, value) -> header(name, value) } }
        .build()
}

/** A copy of [request] to [uri] with [body], keeping the caller's headers that [keep] accepts. */
internal fun copyRequest(request: HttpRequest, uri: URI, body: ByteArray?, keep: (String) -> Boolean): HttpRequest.Builder {
    val builder = HttpRequest.newBuilder(uri)
        .method(request.method(), body?.let(HttpRequest.BodyPublishers::ofByteArray) ?: HttpRequest.BodyPublishers.noBody())
        .expectContinue(request.expectContinue())
    request.timeout().ifPresent(builder::timeout)
    request.version().ifPresent(builder::version)
    request.headers().map().forEach { (name, values) -> if (keep(name)) values.forEach { builder.header(name, it) } }
    return builder
}

internal fun headerPairs(request: HttpRequest): List<Pair<String, String>> =
    request.headers().map().flatMap { (name, values) -> values.map { name to it } }
