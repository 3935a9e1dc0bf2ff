package smoke;

import com.sun.net.httpserver.HttpServer;
import dev.nexus.sdk.NexusClient;
import dev.nexus.sdk.NexusClientOptions;
import dev.nexus.sdk.Token;
import dev.nexus.sdk.TokenCache;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/**
 * Resolves a token through the installed SDK jar against a loopback gateway, with the native
 * library loaded from inside the jar (jna.nosys=true forbids any other place). Exits non-zero on
 * any failure; prints only to stderr.
 */
public final class Smoke {
    public static void main(String[] args) throws Exception {
        HttpServer gateway = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        gateway.createContext("/v1/resolve", exchange -> {
            byte[] body = ("{\"token_type\":\"Bearer\",\"strategy\":{\"type\":\"oauth2\"},"
                + "\"credentials\":{\"access_token\":\"tok_smoke\"},\"access_token\":\"tok_smoke\",\"expires_in\":600}")
                .getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", "application/json");
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        gateway.start();
        String url = "http://127.0.0.1:" + gateway.getAddress().getPort();
        try (NexusClient client = new NexusClient(new NexusClientOptions(url, "nxk_smoke"));
             TokenCache cache = new TokenCache()) {
            Token token = client.getCachedTokenBlocking(cache, "ws", "github");
            if (!"tok_smoke".equals(token.getAccessToken())) {
                throw new AssertionError("unexpected token " + token);
            }
            String jar = NexusClient.class.getProtectionDomain().getCodeSource().getLocation().getPath();
            if (!jar.endsWith(".jar")) {
                throw new AssertionError("the SDK was not loaded from its jar: " + jar);
            }
            System.err.println("smoke: resolved through " + jar);
        } finally {
            gateway.stop(0);
        }
    }
}
