package dev.nexus.sdk

import okhttp3.Headers
import okhttp3.HttpUrl.Companion.toHttpUrl
import okhttp3.Interceptor
import okhttp3.Request
import okhttp3.RequestBody.Companion.toRequestBody
import okhttp3.Response
import okio.Buffer
import org.slf4j.LoggerFactory
import java.io.IOException
import java.util.concurrent.atomic.LongAdder

/**
 * An OkHttp application interceptor that authenticates every request with the credential of one
 * (workspace, provider) connection: resolved through [cache] (a hit is the JVM's held copy, no
 * native call), injected by the core's strategy engine, and on an upstream 401 refreshed once
 * through the core ([NexusClient.replaceRejected]: one forced refresh for N concurrent
 * rejections) and sent once more. A second 401 is returned to the caller.
 *
 * When the core says the token's injection does not depend on the request (bearer, header,
 * basic, query parameter), that answer is kept with the held token ([HeldInjection]) and applied
 * without a native call; the signing strategies (hmac_payload, aws_sigv4) go through the core's
 * `prepare` on every request, with the body.
 *
 * A Nexus failure surfaces as [NexusIOException] (OkHttp's calls may only throw [IOException]);
 * its `cause` is the typed [NexusException]. A one-shot or duplex body is not replayed on a 401.
 */
class NexusInterceptor(
    private val client: NexusClient,
    private val cache: TokenCache,
    private val workspaceId: String,
    private val provider: String,
) : Interceptor {
    private val accepted = AcceptedRequests()

    /** Requests authenticated by the core's `prepare` (the others used a held injection). */
    internal val preparedByCore = LongAdder()

    override fun intercept(chain: Interceptor.Chain): Response {
        val original = chain.request()
        val body = original.body
        val replayable = body == null || !(body.isOneShot() || body.isDuplex())
        // The signing strategies need the bytes; they are read once and re-sent from memory.
        val bytes by lazy { if (body != null && replayable) Buffer().also(body::writeTo).readByteArray() else null }
        val token = nexus { client.getCachedTokenBlocking(cache, workspaceId, provider) }
        val first = chain.proceed(HeldInjection.of(token).applyTo(original, accepted) ?: authenticate(original, token, bytes))
        if (!client.isRejection(first.code) || !replayable) return first
        first.close()
        log.debug("upstream answered 401 for provider {}; refreshing the credential once", provider)
        val fresh = nexus { client.replaceRejectedBlocking(cache, workspaceId, provider, token) }
        return chain.proceed(authenticate(original, fresh, bytes))
    }

    private fun authenticate(original: Request, token: Token, bytes: ByteArray?): Request {
        preparedByCore.increment()
        val headers = original.headers.map { it.first to it.second }
        val prepared = nexus { client.prepare(token, original.method, original.url.toString(), headers, bytes) }
        // The core accepted this request's method, URL and headers: a held injection may serve
        // requests made of them.
        accepted.accept(original.method, original.url.host, original.headers)
        val builder = original.newBuilder()
            .url(prepared.url.toHttpUrl())
            .headers(Headers.Builder().apply { prepared.headers.forEach { (n, v) -> add(n, v) } }.build())
        if (bytes != null) builder.method(original.method, bytes.toRequestBody(original.body?.contentType()))
        return builder.build()
    }

    private companion object {
        val log = LoggerFactory.getLogger(NexusInterceptor::class.java)
    }
}

/** [request] with this held injection applied, or null when it does not serve it (see [HeldInjection]). */
internal fun HeldInjection.applyTo(request: Request, accepted: AcceptedRequests): Request? {
    val url = request.url
    val h = request.headers
    val bare = url.encodedQuery == null && url.encodedFragment == null
    if (!serves(accepted, request.method, url.host, bare, h.size, h::name, h::value)) return null
    val builder = request.newBuilder()
    queryOfBareUrl?.let { builder.url("$url?$it".toHttpUrl()) }
    // OkHttp's header() is the core's merge: every header of that name (any case) replaced.
    for ((name, value) in headers) builder.header(name, value)
    return builder.build()
}

/** A Nexus failure inside OkHttp; [cause] is the typed [NexusException]. */
class NexusIOException(override val cause: NexusException) : IOException(cause.message, cause)

private inline fun <T> nexus(call: () -> T): T =
    try {
        call()
    } catch (e: NexusException) {
        throw NexusIOException(e)
    } catch (e: InterruptedException) {
        Thread.currentThread().interrupt()
        throw java.io.InterruptedIOException("interrupted while resolving the credential")
    }
