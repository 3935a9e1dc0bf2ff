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

/**
 * An OkHttp application interceptor that authenticates every request with the credential of one
 * (workspace, provider) connection: resolved through [cache] (a hit is a native lookup, no I/O),
 * injected by the core's strategy engine, and on an upstream 401 refreshed once through the core
 * ([NexusClient.replaceRejected]: one forced refresh for N concurrent rejections) and sent once
 * more. A second 401 is returned to the caller.
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
    override fun intercept(chain: Interceptor.Chain): Response {
        val original = chain.request()
        val body = original.body
        val replayable = body == null || !(body.isOneShot() || body.isDuplex())
        // The signing strategies need the bytes; they are read once and re-sent from memory.
        val bytes = if (body != null && replayable) Buffer().also(body::writeTo).readByteArray() else null
        val token = nexus { client.getCachedTokenBlocking(cache, workspaceId, provider) }
        val first = chain.proceed(authenticate(original, token, bytes))
        if (!client.isRejection(first.code) || !replayable) return first
        first.close()
        log.debug("upstream answered 401 for provider {}; refreshing the credential once", provider)
        val fresh = nexus { client.replaceRejectedBlocking(cache, workspaceId, provider, token) }
        return chain.proceed(authenticate(original, fresh, bytes))
    }

    private fun authenticate(original: Request, token: Token, bytes: ByteArray?): Request {
        val headers = original.headers.map { it.first to it.second }
        val prepared = nexus { client.prepare(token, original.method, original.url.toString(), headers, bytes) }
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
