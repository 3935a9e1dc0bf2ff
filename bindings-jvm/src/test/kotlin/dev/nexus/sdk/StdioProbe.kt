package dev.nexus.sdk

import com.fasterxml.jackson.databind.node.ObjectNode
import org.slf4j.LoggerFactory
import kotlin.system.exitProcess

/**
 * A minimal MCP server over stdio (raw JSON-RPC, one message per line) whose one tool resolves a
 * credential through the SDK. [StdoutTest] runs it as a child JVM and reads its raw stdout: only
 * JSON-RPC may appear there, whatever the SDK does (errors, debug logging of the core and of the
 * Kotlin layer). Mode `crash` lets a Nexus error escape `main` instead.
 */
object StdioProbe {
    private val log = LoggerFactory.getLogger(StdioProbe::class.java)

    @JvmStatic
    fun main(args: Array<String>) {
        val (mode, gatewayUrl) = args
        val client = NexusClient(NexusClientOptions(gatewayUrl = gatewayUrl, apiKey = "nxk_probe", maxRetries = 0))
        val cache = TokenCache()
        log.info("probe started in mode {}", mode)
        if (mode == "crash") {
            client.resolveTokenBlocking("ws", "github")
            exitProcess(0)
        }
        val out = System.out
        for (line in generateSequence(::readLine)) {
            val request = JSON.readTree(line)
            val id = request["id"] ?: continue // a notification
            val response = JSON.createObjectNode().put("jsonrpc", "2.0").set<ObjectNode>("id", id)
            when (request["method"].asText()) {
                "initialize" -> response.set<ObjectNode>(
                    "result",
                    JSON.valueToTree(
                        mapOf(
                            "protocolVersion" to "2025-06-18",
                            "capabilities" to mapOf("tools" to emptyMap<String, Any>()),
                            "serverInfo" to mapOf("name" to "nexus-probe", "version" to "0"),
                        ),
                    ),
                )
                "tools/call" -> {
                    val text = try {
                        "token type " + client.getCachedTokenBlocking(cache, "ws", "github").tokenType
                    } catch (e: NexusException) {
                        log.warn("resolve failed: {}", e.code)
                        "error ${e.code}"
                    }
                    response.set<ObjectNode>(
                        "result",
                        JSON.valueToTree(mapOf("content" to listOf(mapOf("type" to "text", "text" to text)))),
                    )
                }
                else -> response.set<ObjectNode>("error", JSON.valueToTree(mapOf("code" to -32601, "message" to "no such method")))
            }
            out.println(JSON.writeValueAsString(response))
            out.flush()
        }
    }
}
