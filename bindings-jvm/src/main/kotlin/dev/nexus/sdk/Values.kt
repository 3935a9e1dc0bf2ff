package dev.nexus.sdk

import dev.nexus.sdk.ffi.NativeConnectionStatus
import dev.nexus.sdk.ffi.NativeSession

/** A request after injection: the URL to send to and every header to send. Values are secret. */
class PreparedRequest internal constructor(val url: String, val headers: List<Pair<String, String>>) {
    override fun toString() = "PreparedRequest(headers=${headers.map { it.first }})"
}

/** An upstream answer read by [NexusClient.fetch]. */
class FetchResponse internal constructor(val status: Int, val headers: List<Pair<String, String>>, val body: ByteArray) {
    fun bodyText(): String = body.decodeToString()

    override fun toString() = "FetchResponse(status=$status, ${body.size} bytes)"
}

/** `POST /v1/request-connection`'s answer. */
data class ConnectionStarted(
    val authUrl: String,
    val connectionId: String,
    val state: String,
    val scopes: List<String>,
    val providerId: String,
)

/** A connection's status (`pending`, `active`, `needs_reauth`, `revoked`, `failed`, ...). */
data class ConnectionStatus(
    val status: String,
    val connectionId: String?,
    val providerName: String?,
    val reauthUrl: String?,
) {
    internal constructor(n: NativeConnectionStatus) : this(n.status, n.connectionId, n.providerName, n.reauthUrl)
}

/** An agent session as the gateway issued it (its token stays inside the core). */
data class AgentSession(
    val sessionId: String,
    val expiresAt: String,
    val scopes: List<String>,
    val agentId: String,
    val subject: String,
    val actor: String?,
) {
    internal constructor(n: NativeSession) : this(n.sessionId, n.expiresAt, n.scopes, n.agentId, n.sub, n.act)
}
