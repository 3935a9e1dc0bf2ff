package dev.nexus.sdk

import kotlinx.coroutines.future.await
import org.slf4j.LoggerFactory
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse

/**
 * `java.net.http.HttpClient` with the credential of one (workspace, provider) connection: each
 * request is authenticated by the core's strategy engine with the credential from [cache], and on
 * an upstream 401 refreshed once through the core ([NexusClient.replaceRejected]) and sent once
 * more. A second 401 is returned to the caller.
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

    private fun authenticate(request: HttpRequest, token: Token, body: ByteArray?): HttpRequest {
        val headers = request.headers().map().flatMap { (name, values) -> values.map { name to it } }
        val prepared = client.prepare(token, request.method(), request.uri().toString(), headers, body)
        val builder = HttpRequest.newBuilder(URI.create(prepared.url))
            .method(request.method(), body?.let(HttpRequest.BodyPublishers::ofByteArray) ?: HttpRequest.BodyPublishers.noBody())
            .expectContinue(request.expectContinue())
        request.timeout().ifPresent(builder::timeout)
        request.version().ifPresent(builder::version)
        prepared.headers.forEach { (name, value) -> builder.header(name, value) }
        return builder.build()
    }

    private companion object {
        val log = LoggerFactory.getLogger(NexusHttpClient::class.java)
    }
}
