package example;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import io.modelcontextprotocol.json.McpJsonDefaults;
import io.modelcontextprotocol.json.McpJsonMapper;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The example server as an MCP host runs it: a child JVM spoken to over stdio. Every line it
 * writes to stdout must be JSON-RPC (read raw here, not through a client that might skip
 * garbage), with every log switched on; its tools get credentials from a loopback gateway and
 * call a loopback upstream that rejects the first credential (401 → one refresh → retry).
 */
class StdioTest {
    private static final McpJsonMapper JSON = McpJsonDefaults.getMapper();

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void toolsWorkAndStdoutIsOnlyJsonRpc() throws Exception {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        String base = "http://127.0.0.1:" + server.getAddress().getPort();
        int[] resolves = {0};
        server.createContext("/v1/resolve", exchange -> {
            String token = "tok_" + (++resolves[0]);
            reply(exchange, 200, "{\"token_type\":\"Bearer\",\"strategy\":{\"type\":\"oauth2\"},"
                + "\"credentials\":{\"access_token\":\"" + token + "\"},\"access_token\":\"" + token + "\","
                + "\"expires_in\":3600,\"api_base_url\":\"" + base + "/api\"}");
        });
        server.createContext("/api/", exchange -> {
            boolean ok = "Bearer tok_2".equals(exchange.getRequestHeaders().getFirst("Authorization"));
            reply(exchange, ok ? 200 : 401, ok ? "hello" : "no");
        });
        server.start();
        Process process = null;
        try {
            String java = new File(System.getProperty("java.home"), "bin/java").getPath();
            ProcessBuilder builder = new ProcessBuilder(java, "-Dorg.slf4j.simpleLogger.defaultLogLevel=debug",
                "-cp", System.getProperty("java.class.path"), NexusMcpServer.class.getName())
                .redirectError(new File("target/mcp-server.stderr.log"));  // kept for a failing run
            builder.environment().putAll(Map.of("NEXUS_GATEWAY_URL", base, "NEXUS_API_KEY", "nxk_example",
                "NEXUS_WORKSPACE_ID", "ws_example", "NEXUS_LOG", "debug"));
            process = builder.start();
            OutputStream stdin = process.getOutputStream();
            BufferedReader stdout = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
            send(stdin, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\","
                + "\"capabilities\":{},\"clientInfo\":{\"name\":\"test\",\"version\":\"0\"}}}");
            List<Map<String, Object>> answers = new ArrayList<>();
            answers.add(readAnswer(stdout));
            send(stdin, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
            send(stdin, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}");
            answers.add(readAnswer(stdout));
            send(stdin, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"call_api\","
                + "\"arguments\":{\"provider\":\"github\",\"path\":\"/hello\"}}}");
            answers.add(readAnswer(stdout));
            send(stdin, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":\"connection_status\","
                + "\"arguments\":{\"provider\":\"github\"}}}");
            answers.add(readAnswer(stdout));

            assertEquals(List.of(1, 2, 3, 4), answers.stream().map(a -> ((Number) a.get("id")).intValue()).toList());
            assertTrue(JSON.writeValueAsString(answers.get(1)).contains("call_api"));
            assertTrue(JSON.writeValueAsString(answers.get(2)).contains("200 hello"), answers.get(2).toString());
            assertTrue(JSON.writeValueAsString(answers.get(3)).contains("connected"), answers.get(3).toString());
            assertEquals(2, resolves[0], "one resolve, then one forced refresh after the 401");

            // Whatever else reaches stdout until the process ends must be JSON-RPC too.
            List<String> rest = Collections.synchronizedList(new ArrayList<>());
            Thread drain = new Thread(() -> {
                try {
                    for (String line = stdout.readLine(); line != null; line = stdout.readLine()) rest.add(line);
                } catch (IOException closed) {
                    // the stream closes with the process
                }
            });
            drain.start();
            stdin.close();
            if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroy();
            process.waitFor(30, TimeUnit.SECONDS);
            drain.join(30_000);
            for (String line : rest) assertJsonRpc(line);
        } finally {
            if (process != null) process.destroyForcibly();
            server.stop(0);
        }
    }

    private static void reply(com.sun.net.httpserver.HttpExchange exchange, int status, String body) throws java.io.IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.sendResponseHeaders(status, bytes.length);
        exchange.getResponseBody().write(bytes);
        exchange.close();
    }

    private static void send(OutputStream stdin, String line) throws java.io.IOException {
        stdin.write((line + "\n").getBytes(StandardCharsets.UTF_8));
        stdin.flush();
    }

    /** The next stdout line: it must be a JSON-RPC answer (anything else fails the test). */
    @SuppressWarnings("unchecked")
    private static Map<String, Object> readAnswer(BufferedReader stdout) throws java.io.IOException {
        String line = stdout.readLine();
        assertTrue(line != null, "the server closed stdout");
        return assertJsonRpc(line);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> assertJsonRpc(String line) throws java.io.IOException {
        Map<String, Object> message;
        try {
            message = JSON.readValue(line, Map.class);
        } catch (java.io.IOException | RuntimeException e) {
            throw new AssertionError("stdout carried a non-JSON line: " + line, e);
        }
        assertEquals("2.0", message.get("jsonrpc"), line);
        return message;
    }
}
