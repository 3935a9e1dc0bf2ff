package dev.nexus.sdk

import okhttp3.OkHttpClient
import okhttp3.Request
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test
import java.io.BufferedInputStream
import java.io.ByteArrayOutputStream
import java.io.InputStream
import java.net.InetAddress
import java.net.ServerSocket
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.util.Collections
import kotlin.concurrent.thread

/**
 * Issue 15: the header names an upstream receives from the JVM SDK, byte for byte. The credential
 * header in its canonical case (`Authorization`, or the provider's declared `header_name` as
 * declared) and the caller's own headers as the caller wrote them, through [NexusInterceptor]
 * (OkHttp) and [NexusHttpClient] (java.net.http). The upstream is a raw socket server on
 * 127.0.0.1 that records the header lines as they arrived: no HTTP library folds their case.
 */
class HeaderCaseTest {
    /** Raw HTTP/1.1 on loopback: one request per connection, header lines recorded as sent. */
    private class RawRecorder : AutoCloseable {
        private val socket = ServerSocket(0, 50, InetAddress.getLoopbackAddress())
        val requests: MutableList<List<Pair<String, String>>> = Collections.synchronizedList(mutableListOf())
        val url = "http://127.0.0.1:${socket.localPort}"

        private val acceptor = thread(isDaemon = true, name = "raw-recorder") {
            while (!socket.isClosed) {
                val connection = runCatching { socket.accept() }.getOrNull() ?: break
                connection.use {
                    val input = BufferedInputStream(it.getInputStream())
                    val lines = generateSequence { readLine(input) }.takeWhile(String::isNotEmpty).toList()
                    val headers = lines.drop(1).map { line -> line.substringBefore(':') to line.substringAfter(':').trim() }
                    val length = headers.firstOrNull { (n, _) -> n.equals("content-length", ignoreCase = true) }?.second?.toInt() ?: 0
                    input.readNBytes(length)
                    requests += headers
                    it.getOutputStream().write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".toByteArray())
                }
            }
        }

        /** One CRLF-terminated line as ISO-8859-1 (the bytes as they are), or null at the end. */
        private fun readLine(input: InputStream): String? {
            val line = ByteArrayOutputStream()
            while (true) {
                val b = input.read()
                if (b == -1) return if (line.size() == 0) null else line.toString(Charsets.ISO_8859_1)
                if (b == '\n'.code) return line.toString(Charsets.ISO_8859_1).removeSuffix("\r")
                line.write(b)
            }
        }

        override fun close() {
            socket.close()
            acceptor.join(10_000)
        }
    }

    /** A gateway whose providers declare their header: `oauth` (default), `keyed`, `trial`. */
    private val gateway = Loopback { r ->
        val provider = r.query.orEmpty().split('&').first { it.startsWith("provider_name=") }.substringAfter('=')
        val strategy = when (provider) {
            "keyed" -> """{"type":"api_key","config":{"header_name":"X-API-Key"}}"""
            "trial" -> """{"type":"header","config":{"header_name":"X-Trial-Key","value_prefix":""}}"""
            else -> """{"type":"oauth2"}"""
        }
        Reply.json(
            200,
            JSON.readTree(
                """{"token_type":"Bearer","strategy":$strategy,"access_token":"k-1",
                   "credentials":{"access_token":"k-1","api_key":"k-1"},"expires_in":3600}""",
            ),
        )
    }

    private val expected = mapOf("oauth" to "Authorization", "keyed" to "X-API-Key", "trial" to "X-Trial-Key")

    /** The caller's headers, in the case the caller wrote them. */
    private val callerHeaders = listOf("x-request-id" to "r-1", "X-Custom-CASE" to "c-1")

    private fun assertNames(credentialHeader: String, received: List<Pair<String, String>>) {
        val names = received.map { it.first }
        assertEquals(1, names.count { it.equals(credentialHeader, ignoreCase = true) }, "$names")
        assertEquals(listOf(credentialHeader), names.filter { it.equals(credentialHeader, ignoreCase = true) }, "credential header case")
        for ((name, _) in callerHeaders) {
            assertEquals(listOf(name), names.filter { it.equals(name, ignoreCase = true) }, "caller header case")
        }
        assertEquals(credentialHeader to (if (credentialHeader == "Authorization") "Bearer k-1" else "k-1"),
            received.first { it.first == credentialHeader })
    }

    @Test
    fun throughTheOkHttpInterceptor() = gateway.use {
        RawRecorder().use { upstream ->
            clientFor(gateway.url).use { client ->
                TokenCache().use { cache ->
                    for ((provider, header) in expected) {
                        val http = OkHttpClient.Builder().addInterceptor(NexusInterceptor(client, cache, "ws", provider)).build()
                        val request = Request.Builder().url("${upstream.url}/things")
                            .apply { callerHeaders.forEach { (n, v) -> header(n, v) } }.build()
                        http.newCall(request).execute().use { r -> assertEquals(200, r.code) }
                        assertNames(header, upstream.requests.last())
                    }
                }
            }
        }
    }

    @Test
    fun throughTheJavaHttpClientHelper() = gateway.use {
        RawRecorder().use { upstream ->
            clientFor(gateway.url).use { client ->
                TokenCache().use { cache ->
                    for ((provider, header) in expected) {
                        val http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()
                        val request = HttpRequest.newBuilder(URI.create("${upstream.url}/things"))
                            .apply { callerHeaders.forEach { (n, v) -> header(n, v) } }.GET().build()
                        val r = NexusHttpClient(client, cache, "ws", provider, http).send(request, HttpResponse.BodyHandlers.ofString())
                        assertEquals(200, r.statusCode())
                        assertNames(header, upstream.requests.last())
                    }
                }
            }
        }
    }
}
