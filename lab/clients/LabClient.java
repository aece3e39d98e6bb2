// The lab's Java client: a hand-written MCP client on java.net.http.HttpClient (the JDK's own), with
// Redirect.NORMAL as an agent would set it (the default, NEVER, stops at every redirect).
//
//   java -cp CLASSES LabClient PLAN.tsv RECORD.jsonl
//
// PLAN.tsv has one assignment a line: client server case url source attempts pause hold authorization
// truststore timeout (tab-separated). java.net.http cannot bind a local address before JDK 19, so this
// client connects from 127.0.0.1 whatever `source` says. Every exchange is recorded from the
// client's own view: the final response and its chain of previousResponse().
import java.io.FileInputStream;
import java.io.FileWriter;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

public class LabClient {
    static final String PROTOCOL_VERSION = "2025-06-18";

    record Assignment(String client, String server, String kase, String url, String source, int attempts, double pause,
                      double hold, boolean authorization, String truststore, double timeout) {}

    static class Failed extends Exception {
        Failed(String message) { super(message); }
    }

    public static void main(String[] args) throws Exception {
        List<Assignment> plan = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of(args[0]))) {
            if (line.isBlank()) continue;
            String[] f = line.split("\t", -1);
            plan.add(new Assignment(f[0], f[1], f[2], f[3], f[4], Integer.parseInt(f[5]), Double.parseDouble(f[6]),
                    Double.parseDouble(f[7]), Boolean.parseBoolean(f[8]), f[9], Double.parseDouble(f[10])));
        }
        Path record = Path.of(args[1]);
        List<Thread> threads = new ArrayList<>();
        for (Assignment a : plan) {
            Thread t = new Thread(() -> run(a, record));
            t.start();
            threads.add(t);
        }
        for (Thread t : threads) t.join();
    }

    static SSLContext trusting(String truststore) throws Exception {
        KeyStore store = KeyStore.getInstance("PKCS12");
        try (FileInputStream in = new FileInputStream(truststore)) {
            store.load(in, "changeit".toCharArray());
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(store);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        return ctx;
    }

    static void run(Assignment a, Path record) {
        SSLContext tls;
        try {
            tls = trusting(a.truststore());
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
        for (int attempt = 1; attempt <= a.attempts(); attempt++) {
            List<String> hops = new ArrayList<>();
            String start = Instant.now().toString();
            boolean ok = true;
            String error = null;
            try {
                HttpClient http = HttpClient.newBuilder()
                        .followRedirects(HttpClient.Redirect.NORMAL)
                        .sslContext(tls)
                        .connectTimeout(Duration.ofSeconds(10))
                        .build();
                session(a, http, hops);
            } catch (Failed e) {
                ok = false;
                error = "Failed: " + e.getMessage();
            } catch (Exception e) {
                ok = false;
                error = e.getClass().getSimpleName() + ": " + e.getMessage();
            }
            write(record, a, attempt, start, ok, error, hops);
            if (attempt < a.attempts()) sleep(a.pause());
        }
    }

    static void session(Assignment a, HttpClient http, List<String> hops) throws Exception {
        List<String[]> headers = new ArrayList<>();
        headers.add(new String[] {"Content-Type", "application/json"});
        headers.add(new String[] {"Accept", "application/json, text/event-stream"});
        if (a.authorization()) headers.add(new String[] {"Authorization", "Bearer lab-token"});
        String init = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"" + PROTOCOL_VERSION
                + "\",\"capabilities\":{},\"clientInfo\":{\"name\":\"" + a.client() + "\",\"version\":\"1.0\"}}}";
        HttpResponse<String> reply = send(a, http, "POST", headers, init, hops);
        result(reply, 1, "initialize");
        String session = reply.headers().firstValue("mcp-session-id").orElse(null);
        headers.add(new String[] {"MCP-Protocol-Version", PROTOCOL_VERSION});
        if (session != null) headers.add(new String[] {"Mcp-Session-Id", session});
        reply = send(a, http, "POST", headers, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", hops);
        if (reply.statusCode() / 100 != 2) throw new Failed("notifications/initialized: HTTP " + reply.statusCode());
        result(send(a, http, "POST", headers, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}", hops), 2, "tools/list");
        sleep(a.hold());
        if (session != null) {
            headers.removeIf(h -> h[0].equals("Content-Type"));
            send(a, http, "DELETE", headers, null, hops);
        }
    }

    static HttpResponse<String> send(Assignment a, HttpClient http, String method, List<String[]> headers, String body,
                                     List<String> hops) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(a.url())).timeout(Duration.ofMillis((long) (a.timeout() * 1000)));
        for (String[] h : headers) b.header(h[0], h[1]);
        b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        HttpResponse<String> reply;
        try {
            reply = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            hops.add(hop(method, a.url(), null, "", e.getClass().getSimpleName() + ": " + e.getMessage()));
            throw e;
        }
        List<String> chain = new ArrayList<>();
        for (HttpResponse<?> r = reply; r != null; r = r.previousResponse().orElse(null)) {
            chain.add(hop(r.request().method(), r.request().uri().toString(), r.statusCode(), headerFields(r), null));
        }
        Collections.reverse(chain);
        hops.addAll(chain);
        return reply;
    }

    static final Pattern ID = Pattern.compile("\"id\"\\s*:\\s*(\\d+)");

    static void result(HttpResponse<String> reply, int id, String step) throws Failed {
        if (reply.statusCode() / 100 != 2) throw new Failed(step + ": HTTP " + reply.statusCode());
        String body = reply.body();
        for (String line : body.split("\n")) {
            String json = line.startsWith("data:") ? line.substring(5).trim() : line.trim();
            Matcher m = ID.matcher(json);
            if (m.find() && Integer.parseInt(m.group(1)) == id) {
                if (json.contains("\"result\"")) return;
                throw new Failed(step + ": JSON-RPC error " + json);
            }
        }
        throw new Failed(step + ": HTTP " + reply.statusCode() + " without a response to request " + id);
    }

    static String headerFields(HttpResponse<?> r) {
        StringBuilder b = new StringBuilder();
        for (String name : new String[] {"location", "strict-transport-security"}) {
            r.headers().firstValue(name).ifPresent(v -> b.append(",").append(quote(name)).append(":").append(quote(v)));
        }
        return b.toString();
    }

    static String hop(String method, String url, Integer status, String headers, String error) {
        return "{\"method\":" + quote(method) + ",\"url\":" + quote(url) + ",\"status\":" + status + headers
                + (error == null ? "" : ",\"error\":" + quote(error)) + "}";
    }

    static synchronized void write(Path record, Assignment a, int attempt, String start, boolean ok, String error, List<String> hops) {
        String row = "{\"client\":" + quote(a.client()) + ",\"server\":" + quote(a.server()) + ",\"case\":" + quote(a.kase())
                + ",\"source\":" + quote("127.0.0.1") + ",\"url\":" + quote(a.url()) + ",\"attempt\":" + attempt
                + ",\"start\":" + quote(start) + ",\"end\":" + quote(Instant.now().toString()) + ",\"ok\":" + ok
                + ",\"error\":" + (error == null ? "null" : quote(error)) + ",\"hops\":[" + String.join(",", hops) + "]}\n";
        try (FileWriter w = new FileWriter(record.toFile(), true)) {
            w.write(row);
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
    }

    static String quote(String s) {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    static void sleep(double seconds) {
        try {
            Thread.sleep((long) (seconds * 1000));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
