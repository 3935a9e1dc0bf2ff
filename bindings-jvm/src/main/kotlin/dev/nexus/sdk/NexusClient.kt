package dev.nexus.sdk

import dev.nexus.sdk.ffi.NativeCacheHit
import dev.nexus.sdk.ffi.NativeClient
import dev.nexus.sdk.ffi.NativeClientOptions
import dev.nexus.sdk.ffi.NativeConnectionRequest
import dev.nexus.sdk.ffi.NativeHeader
import dev.nexus.sdk.ffi.NativeRequest
import dev.nexus.sdk.ffi.NativeSessionRequest
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.runBlocking
import java.time.Duration

/** How to reach the gateway. `toString()` hides the API key. */
data class NexusClientOptions @JvmOverloads constructor(
    val gatewayUrl: String,
    val apiKey: String,
    /** Whole-request timeout of every gateway call. */
    val timeout: Duration = Duration.ofSeconds(30),
    /** Retries of idempotent gateway calls; null keeps the core's default policy. */
    val maxRetries: Int? = null,
    val userAgent: String? = null,
) {
    override fun toString() = "NexusClientOptions(gatewayUrl=$gatewayUrl, apiKey=[redacted], timeout=$timeout)"
}

/**
 * A client of the Nexus gateway: the Rust core through its native library.
 *
 * Every operation is a Kotlin `suspend` function, and a blocking `...Blocking` method with the
 * same arguments for Java. Both are cancellable: cancelling the coroutine, or interrupting the
 * thread blocked in a `...Blocking` call (which then throws [InterruptedException]), cancels the
 * core's work. Errors are [NexusException] subclasses. Nothing is written to stdout.
 */
class NexusClient(options: NexusClientOptions) : AutoCloseable {
    internal val native: NativeClient = native {
        NativeClient(
            NativeClientOptions(
                gatewayUrl = options.gatewayUrl,
                apiKey = options.apiKey,
                timeoutMs = options.timeout.toMillis().coerceAtLeast(1).toULong(),
                maxRetries = options.maxRetries?.toUInt(),
                userAgent = options.userAgent,
            ),
        )
    }

    /**
     * Who resolves, as a version the JVM's copies of cache hits ([HeldHits]) are tagged with:
     * changed around every session start or close, since those change the core's cache
     * namespace.
     */
    private val principal = Versions()

    val gatewayUrl: String get() = native.gatewayUrl()

    // --- resolve -------------------------------------------------------------------------------

    /** `GET /v1/resolve`: a fresh credential from the gateway, without a cache. */
    @JvmOverloads
    suspend fun resolveToken(
        workspaceId: String,
        provider: String,
        minTtl: Duration? = null,
        forceRefresh: Boolean = false,
    ): Token = native {
        Token(native.resolve(workspaceId, provider, minTtl?.seconds?.toULong(), forceRefresh))
    }

    @JvmOverloads
    fun resolveTokenBlocking(
        workspaceId: String,
        provider: String,
        minTtl: Duration? = null,
        forceRefresh: Boolean = false,
    ): Token = blocking { resolveToken(workspaceId, provider, minTtl, forceRefresh) }

    /**
     * The credential through [cache]: a fresh cached token (no I/O, no coroutine), or one gateway
     * resolve shared by every concurrent caller for the same key.
     */
    suspend fun getCachedToken(cache: TokenCache, workspaceId: String, provider: String): Token =
        peek(cache, workspaceId, provider)
            ?: hold(cache, workspaceId, provider) { native.resolveCached(cache.native, workspaceId, provider, false) }!!

    fun getCachedTokenBlocking(cache: TokenCache, workspaceId: String, provider: String): Token =
        peek(cache, workspaceId, provider) ?: blocking { getCachedToken(cache, workspaceId, provider) }

    /** A hit: the JVM's copy when it is current (no native call), else the core's cache. */
    private fun peek(cache: TokenCache, workspaceId: String, provider: String): Token? =
        cache.held.get(principal, workspaceId, provider)
            ?: hold(cache, workspaceId, provider) { native.peekCached(cache.native, workspaceId, provider) }

    /** Make a native call that answers a hit of [cache] and keep a copy of it (see [HeldHits]). */
    private inline fun hold(cache: TokenCache, workspaceId: String, provider: String, call: () -> NativeCacheHit?): Token? {
        // Tags first, then the clock, then the native call (see HeldHits).
        val principalTag = principal.current()
        val writesTag = cache.held.writes.current()
        val clock = cache.held.clock.precise()
        val hit = native(call) ?: return null
        return cache.held.keep(principal, principalTag, writesTag, clock, workspaceId, provider, hit)
    }

    /** Drop the cached token of (workspace, provider) for the current principal. */
    fun invalidate(cache: TokenCache, workspaceId: String, provider: String) =
        written(cache) { native.invalidate(cache.native, workspaceId, provider) }

    /**
     * After an upstream refused [rejected] (401): the core drops it and forces one refresh
     * through the single flight, unless a concurrent caller already replaced it.
     */
    suspend fun replaceRejected(cache: TokenCache, workspaceId: String, provider: String, rejected: Token): Token =
        written(cache) { native { Token(native.replaceRejected(cache.native, workspaceId, provider, rejected.native).token) } }

    fun replaceRejectedBlocking(cache: TokenCache, workspaceId: String, provider: String, rejected: Token): Token =
        blocking { replaceRejected(cache, workspaceId, provider, rejected) }

    /**
     * Whether an upstream status means the credential was refused (the core's 401 rule). The
     * core's answer is a function of the status alone, so it is asked once per status code and
     * remembered: the interceptors ask on every response, and a UniFFI call per request is what
     * the held injection exists to avoid.
     */
    fun isRejection(status: Int): Boolean {
        if (status !in 0 until REJECTION_ANSWERS) return native.isRejection(status.toUShort())
        val known = rejection.get(status)
        if (known != 0) return known == REJECTED
        val answer = native.isRejection(status.toUShort())
        rejection.set(status, if (answer) REJECTED else ACCEPTED)
        return answer
    }

    /** The core's [isRejection] answers by status code: 0 not asked yet. */
    private val rejection = java.util.concurrent.atomic.AtomicIntegerArray(REJECTION_ANSWERS)

    /**
     * Apply [token]'s injection strategy to a request (no I/O): the final URL and the caller's
     * headers merged with the injected ones. The signing strategies read [body].
     */
    fun prepare(token: Token, method: String, url: String, headers: List<Pair<String, String>>, body: ByteArray?): PreparedRequest =
        native {
            val prepared = native.prepare(
                token.native,
                NativeRequest(method, url, headers.map { NativeHeader(it.first, it.second) }, body),
            )
            PreparedRequest(prepared.url, prepared.headers.map { it.name to it.value })
        }

    /**
     * The core's whole authenticated request (resolve through [cache], inject, send, on a 401
     * refresh once and send again), read fully.
     */
    @JvmOverloads
    suspend fun fetch(
        cache: TokenCache,
        workspaceId: String,
        provider: String,
        method: String,
        url: String,
        headers: List<Pair<String, String>> = emptyList(),
        body: ByteArray? = null,
    ): FetchResponse = written(cache) {
        // The core applies the 401 rule itself, which may replace the cached token.
        native {
            val r = native.fetch(
                cache.native,
                workspaceId,
                provider,
                NativeRequest(method, url, headers.map { NativeHeader(it.first, it.second) }, body),
            )
            FetchResponse(r.status.toInt(), r.headers.map { it.name to it.value }, r.body)
        }
    }

    @JvmOverloads
    fun fetchBlocking(
        cache: TokenCache,
        workspaceId: String,
        provider: String,
        method: String,
        url: String,
        headers: List<Pair<String, String>> = emptyList(),
        body: ByteArray? = null,
    ): FetchResponse = blocking { fetch(cache, workspaceId, provider, method, url, headers, body) }

    // --- connection lifecycle ------------------------------------------------------------------

    /** `POST /v1/request-connection`: start a connect flow; send a person to `authUrl`. */
    @JvmOverloads
    suspend fun requestConnection(
        userId: String,
        provider: String,
        scopes: List<String> = emptyList(),
        returnUrl: String? = null,
    ): ConnectionStarted = native {
        val r = native.requestConnection(NativeConnectionRequest(userId, provider, scopes, returnUrl))
        ConnectionStarted(r.authUrl, r.connectionId, r.state, r.scopes, r.providerId)
    }

    @JvmOverloads
    fun requestConnectionBlocking(
        userId: String,
        provider: String,
        scopes: List<String> = emptyList(),
        returnUrl: String? = null,
    ): ConnectionStarted = blocking { requestConnection(userId, provider, scopes, returnUrl) }

    /** `GET /v1/check-connection/{id}`. */
    suspend fun checkConnection(connectionId: String): ConnectionStatus =
        native { native.checkConnection(connectionId).let(::ConnectionStatus) }

    fun checkConnectionBlocking(connectionId: String): ConnectionStatus = blocking { checkConnection(connectionId) }

    /**
     * Poll until the connection is active. Throws [ConnectionFailedException] when it reaches a
     * state it will not leave, [WaitAbortedException] after [timeout].
     */
    @JvmOverloads
    suspend fun waitForActive(
        connectionId: String,
        interval: Duration = Duration.ofSeconds(2),
        timeout: Duration = Duration.ofMinutes(5),
    ): ConnectionStatus = native {
        native.waitForActive(connectionId, interval.toMillis().toULong(), timeout.toMillis().toULong()).let(::ConnectionStatus)
    }

    @JvmOverloads
    fun waitForActiveBlocking(
        connectionId: String,
        interval: Duration = Duration.ofSeconds(2),
        timeout: Duration = Duration.ofMinutes(5),
    ): ConnectionStatus = blocking { waitForActive(connectionId, interval, timeout) }

    // --- agent sessions ------------------------------------------------------------------------

    /**
     * `POST /v1/sessions`: from now on every resolve uses a scoped session token (renewed in the
     * background) instead of the API key, with its own cache namespace.
     */
    @JvmOverloads
    suspend fun startSession(
        scopes: List<String> = emptyList(),
        ttl: Duration? = null,
        onBehalfOf: String? = null,
        agentCredential: String? = null,
    ): AgentSession = principalChange {
        native {
            native.startSession(NativeSessionRequest(scopes, ttl?.seconds?.toULong(), onBehalfOf, agentCredential)).let(::AgentSession)
        }
    }

    @JvmOverloads
    fun startSessionBlocking(
        scopes: List<String> = emptyList(),
        ttl: Duration? = null,
        onBehalfOf: String? = null,
        agentCredential: String? = null,
    ): AgentSession = blocking { startSession(scopes, ttl, onBehalfOf, agentCredential) }

    /** The active session, if any (its current state after renewals). */
    val session: AgentSession? get() = native.session()?.let(::AgentSession)

    /** Revoke the active session and go back to the API key (a no-op without one). */
    suspend fun closeSession() = principalChange { native { native.closeSession() } }

    fun closeSessionBlocking() = blocking { closeSession() }

    /** `GET /v1/sessions/{id}` of the active session: `active`, `expired` or `revoked`. */
    suspend fun sessionStatus(): String = native { native.sessionStatus().status }

    fun sessionStatusBlocking(): String = blocking { sessionStatus() }

    /** Run a call that may change the principal; copies taken under the old one stop serving. */
    private inline fun <T> principalChange(call: () -> T): T = principal.changing(call)

    /** Run a call that may write to [cache]'s native cache; the JVM's copies stop serving. */
    private inline fun <T> written(cache: TokenCache, call: () -> T): T = cache.held.writing(call)

    // A closed client answers nothing, so its copies of hits must not either.
    override fun close() = principal.changing { native.close() }

    override fun toString() = "NexusClient(gatewayUrl=$gatewayUrl)"
}

private const val REJECTION_ANSWERS = 1000
private const val REJECTED = 1
private const val ACCEPTED = 2

/** Run a suspend call on this thread; an interrupt cancels it and throws [InterruptedException]. */
internal fun <T> blocking(block: suspend CoroutineScope.() -> T): T = runBlocking(block = block)
