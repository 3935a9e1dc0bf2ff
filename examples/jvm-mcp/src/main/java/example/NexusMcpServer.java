package example;

import dev.nexus.sdk.NexusClient;
import dev.nexus.sdk.NexusClientOptions;
import dev.nexus.sdk.NexusException;
import dev.nexus.sdk.NexusHttpClient;
import dev.nexus.sdk.Token;
import dev.nexus.sdk.TokenCache;
import io.modelcontextprotocol.json.McpJsonDefaults;
import io.modelcontextprotocol.server.McpServer;
import io.modelcontextprotocol.server.McpServerFeatures.SyncToolSpecification;
import io.modelcontextprotocol.server.McpSyncServer;
import io.modelcontextprotocol.server.transport.StdioServerTransportProvider;
import io.modelcontextprotocol.spec.McpSchema.CallToolResult;
import io.modelcontextprotocol.spec.McpSchema.ServerCapabilities;
import io.modelcontextprotocol.spec.McpSchema.Tool;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * An MCP server (official Java MCP SDK, stdio) with two tools backed by Nexus:
 * {@code connection_status} (is a credential available, and until when; never the credential)
 * and {@code call_api} (an authenticated GET to the provider's API, retried once on a 401 with a
 * refreshed credential). Configuration: NEXUS_GATEWAY_URL, NEXUS_API_KEY, NEXUS_WORKSPACE_ID.
 * Nothing but JSON-RPC is written to stdout; logs go to stderr.
 */
public final class NexusMcpServer {
    public static void main(String[] args) throws InterruptedException {
        NexusClient nexus = new NexusClient(new NexusClientOptions(
            System.getenv("NEXUS_GATEWAY_URL"), System.getenv("NEXUS_API_KEY")));
        TokenCache cache = new TokenCache();
        String workspace = System.getenv("NEXUS_WORKSPACE_ID");

        Map<String, Object> providerOnly = Map.of(
            "type", "object",
            "properties", Map.of("provider", Map.of("type", "string")),
            "required", java.util.List.of("provider"));
        Map<String, Object> providerAndPath = Map.of(
            "type", "object",
            "properties", Map.of("provider", Map.of("type", "string"), "path", Map.of("type", "string")),
            "required", java.util.List.of("provider", "path"));

        SyncToolSpecification status = SyncToolSpecification.builder()
            .tool(Tool.builder().name("connection_status")
                .description("Whether Nexus has a usable credential for a provider, and until when")
                .inputSchema(providerOnly).build())
            .callHandler((exchange, request) -> {
                String provider = (String) request.arguments().get("provider");
                try {
                    Token token = nexus.getCachedTokenBlocking(cache, workspace, provider);
                    return text("connected; expires at " + token.getExpiresAt(), false);
                } catch (NexusException e) {
                    return text(e.getCode() + ": " + e.getMessage(), true);
                }
            })
            .build();

        SyncToolSpecification callApi = SyncToolSpecification.builder()
            .tool(Tool.builder().name("call_api")
                .description("GET a path of the provider's API with the Nexus credential")
                .inputSchema(providerAndPath).build())
            .callHandler((exchange, request) -> {
                String provider = (String) request.arguments().get("provider");
                String path = (String) request.arguments().get("path");
                try {
                    Token token = nexus.getCachedTokenBlocking(cache, workspace, provider);
                    NexusHttpClient http = new NexusHttpClient(nexus, cache, workspace, provider);
                    HttpResponse<String> response = http.send(
                        HttpRequest.newBuilder(URI.create(token.getApiBaseUrl() + path)).build(),
                        HttpResponse.BodyHandlers.ofString());
                    return text(response.statusCode() + " " + response.body(), response.statusCode() >= 400);
                } catch (NexusException e) {
                    return text(e.getCode() + ": " + e.getMessage(), true);
                } catch (java.io.IOException e) {
                    return text("upstream unreachable: " + e.getMessage(), true);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return text("interrupted", true);
                }
            })
            .build();

        McpSyncServer server = McpServer.sync(new StdioServerTransportProvider(McpJsonDefaults.getMapper()))
            .serverInfo("nexus-jvm-example", "0.1.0")
            .capabilities(ServerCapabilities.builder().tools(true).build())
            .tools(status, callApi)
            .build();
        // The transport serves on its own threads until stdin closes.
        CountDownLatch forever = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(server::close));
        forever.await();
    }

    private static CallToolResult text(String text, boolean isError) {
        return CallToolResult.builder().addTextContent(text).isError(isError).build();
    }
}
