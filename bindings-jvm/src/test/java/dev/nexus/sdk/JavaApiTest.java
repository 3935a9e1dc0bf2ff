package dev.nexus.sdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** The blocking API as a Java caller sees it. */
class JavaApiTest {
    @Test
    void resolvesThroughTheCacheFromJava() {
        try (Loopback gateway = new Loopback(r -> Reply.Companion.json(200, SupportKt.resolveBody("tok_java", 3600)));
             NexusClient client = new NexusClient(new NexusClientOptions(gateway.getUrl(), "nxk_java"));
             TokenCache cache = new TokenCache()) {
            Token token = client.getCachedTokenBlocking(cache, "ws", "github");
            assertEquals("tok_java", token.getAccessToken());
            assertEquals(1L, cache.getSize());
            assertEquals(token.getGeneration(), client.getCachedTokenBlocking(cache, "ws", "github").getGeneration());
        }
    }

    @Test
    void gatewayErrorsAreTypedExceptions() {
        try (Loopback gateway = new Loopback(r -> Reply.Companion.json(409, Map.of(
                "error", "reauth_required", "message", "authorize again", "reauth_url", "https://nexus.example/connect/1")));
             NexusClient client = new NexusClient(new NexusClientOptions(gateway.getUrl(), "nxk_java"))) {
            ReauthRequiredException e = assertThrows(ReauthRequiredException.class,
                () -> client.resolveTokenBlocking("ws", "github"));
            assertEquals("reauth_required", e.getCode());
            assertEquals("https://nexus.example/connect/1", e.getReauthUrl());
        }
    }

    @Test
    void aBadGatewayUrlIsAnInvalidRequest() {
        InvalidRequestException e = assertThrows(InvalidRequestException.class,
            () -> new NexusClient(new NexusClientOptions("not a url", "nxk_java")));
        assertEquals("invalid_request", e.getCode());
    }
}
