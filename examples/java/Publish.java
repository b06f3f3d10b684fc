import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Publishes one message to Herald from plain Java (JDK 11+, no library): mints a short-lived HS256
 * publisher token with the secret Herald verifies tokens with, and POSTs the message to /messages.
 *
 * <pre>
 * HERALD_URL=http://localhost:8080 HERALD_JWT_SECRET=... java Publish.java alice "Your order shipped"
 * </pre>
 *
 * In a Spring service, keep one {@code HeraldPublisher} as a bean and build the body with Jackson; the
 * token and the request stay exactly as here.
 */
public class Publish {
  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: java Publish.java <user id> <text>");
      System.exit(2);
    }
    String secret = System.getenv("HERALD_JWT_SECRET");
    if (secret == null || secret.isEmpty()) {
      System.err.println("set HERALD_JWT_SECRET to Herald's --jwt-secret");
      System.exit(2);
    }
    String url = System.getenv().getOrDefault("HERALD_URL", "http://localhost:8080");
    HeraldPublisher herald = new HeraldPublisher(url, secret, "java-example");
    try {
      // The message goes to one user; its data is a JSON object the page receives as it is.
      String body = "{\"to\":{\"users\":[" + json(args[0]) + "]},\"event\":\"notice\",\"data\":{\"text\":"
          + json(args[1]) + "}}";
      System.out.println(herald.publish(body));
    } catch (HeraldException e) {
      System.err.println("herald: " + e.getMessage());
      System.exit(1);
    } catch (java.io.IOException e) {
      // Not answered at all (refused, timed out): safe to retry later.
      System.err.println("herald: cannot reach " + url + " (" + e + ")");
      System.exit(1);
    }
  }

  /** A JSON string literal: quotes, backslashes and control characters escaped. */
  static String json(String text) {
    StringBuilder out = new StringBuilder("\"");
    for (char c : text.toCharArray()) {
      if (c == '"' || c == '\\') out.append('\\').append(c);
      else if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
      else out.append(c);
    }
    return out.append('"').toString();
  }
}

/** Herald's publish API: one HTTP client for the process, a fresh token per request. */
class HeraldPublisher {
  private static final Pattern ID = Pattern.compile("\"id\"\\s*:\\s*\"([^\"]*)\"");
  private static final Pattern DETAIL = Pattern.compile("\"detail\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"");

  private final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private final URI messages;
  private final byte[] secret;
  private final String service;

  /**
   * @param service the token's {@code sub}: Herald counts its publish rate limit under it
   */
  HeraldPublisher(String baseUrl, String secret, String service) {
    this.messages = URI.create(baseUrl.replaceAll("/+$", "") + "/messages");
    this.secret = secret.getBytes(StandardCharsets.UTF_8);
    this.service = service;
  }

  /** POSTs a JSON body (one message, or an array of them); returns the id of the message accepted. */
  String publish(String jsonBody) throws Exception {
    HttpRequest request = HttpRequest.newBuilder(messages)
        .timeout(Duration.ofSeconds(10))
        .header("Content-Type", "application/json")
        .header("Authorization", "Bearer " + token())
        .POST(HttpRequest.BodyPublishers.ofString(jsonBody, StandardCharsets.UTF_8))
        .build();
    HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
    if (response.statusCode() != 202) {
      // Errors are RFC 9457 problem documents: `detail` says what exactly is wrong.
      Matcher detail = DETAIL.matcher(response.body());
      throw new HeraldException(response.statusCode() + " " + (detail.find() ? detail.group(1) : response.body()));
    }
    Matcher id = ID.matcher(response.body());
    return id.find() ? id.group(1) : response.body();
  }

  /** A publisher token valid for one minute: {@code "herald": {"publish": true}}, HS256. */
  String token() throws Exception {
    long now = System.currentTimeMillis() / 1000;
    String header = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    String claims = "{\"sub\":" + Publish.json(service) + ",\"iat\":" + now + ",\"exp\":" + (now + 60)
        + ",\"herald\":{\"publish\":true}}";
    String signingInput = base64Url(header.getBytes(StandardCharsets.UTF_8)) + "."
        + base64Url(claims.getBytes(StandardCharsets.UTF_8));
    Mac mac = Mac.getInstance("HmacSHA256");
    mac.init(new SecretKeySpec(secret, "HmacSHA256"));
    return signingInput + "." + base64Url(mac.doFinal(signingInput.getBytes(StandardCharsets.US_ASCII)));
  }

  private static String base64Url(byte[] bytes) {
    return Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
  }
}

/** Herald refused the request: its status and the problem's detail. */
class HeraldException extends Exception {
  HeraldException(String message) {
    super(message);
  }
}
