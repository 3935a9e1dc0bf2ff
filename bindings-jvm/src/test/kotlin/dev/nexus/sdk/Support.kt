package dev.nexus.sdk

import com.fasterxml.jackson.databind.JsonNode
import com.fasterxml.jackson.databind.ObjectMapper
import com.sun.net.httpserver.HttpExchange
import com.sun.net.httpserver.HttpServer
import java.net.InetSocketAddress
import java.nio.file.Path
import java.util.concurrent.Executors

val JSON = ObjectMapper()

/** The shared conformance vectors (tests/vectors/), found through NEXUS_VECTORS_DIR. */
object Vectors {
    val dir: Path = Path.of(System.getenv("NEXUS_VECTORS_DIR") ?: "../tests/vectors")

    fun load(name: String): JsonNode = JSON.readTree(dir.resolve("$name.json").toFile())
}

/** A request a loopback server received. */
class Received(val method: String, val path: String, val query: String?, val headers: Map<String, String>, val body: ByteArray)

/** An answer of a loopback server. */
class Reply(val status: Int, val body: ByteArray = ByteArray(0), val headers: Map<String, String> = emptyMap()) {
    companion object {
        fun json(status: Int, value: Any): Reply = Reply(
            status,
            if (value is JsonNode) JSON.writeValueAsBytes(value) else JSON.writeValueAsBytes(value),
            mapOf("Content-Type" to "application/json"),
        )
    }
}

/** A real HTTP server on 127.0.0.1 (an ephemeral port), answering with [handler]. */
class Loopback(private val handler: (Received) -> Reply) : AutoCloseable {
    private val server = HttpServer.create(InetSocketAddress("127.0.0.1", 0), 0)
    private val pool = Executors.newCachedThreadPool()

    init {
        server.executor = pool
        server.createContext("/") { exchange -> answer(exchange) }
        server.start()
    }

    val url: String get() = "http://127.0.0.1:${server.address.port}"

    private fun answer(exchange: HttpExchange) {
        exchange.use {
            val headers = exchange.requestHeaders.entries.associate { it.key.lowercase() to it.value.first() }
            val received = Received(
                exchange.requestMethod,
                exchange.requestURI.path,
                exchange.requestURI.rawQuery,
                headers,
                exchange.requestBody.readAllBytes(),
            )
            val reply = try {
                handler(received)
            } catch (e: Throwable) {
                Reply(500, "test server: ${e.message}".toByteArray())
            }
            reply.headers.forEach { (n, v) -> exchange.responseHeaders.add(n, v) }
            exchange.sendResponseHeaders(reply.status, if (reply.body.isEmpty()) -1 else reply.body.size.toLong())
            if (reply.body.isNotEmpty()) exchange.responseBody.write(reply.body)
        }
    }

    override fun close() {
        server.stop(0)
        pool.shutdownNow()
    }
}

fun resolveBody(accessToken: String, expiresIn: Int = 3600): JsonNode = JSON.readTree(
    """{"token_type":"Bearer","strategy":{"type":"oauth2"},"credentials":{"access_token":"$accessToken"},
       "access_token":"$accessToken","expires_in":$expiresIn}""",
)

fun clientFor(gatewayUrl: String, apiKey: String = "nxk_test"): NexusClient =
    NexusClient(NexusClientOptions(gatewayUrl = gatewayUrl, apiKey = apiKey, maxRetries = 0))
