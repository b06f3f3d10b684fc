<?php
/**
 * Publishes one message to Herald from PHP with the curl extension and nothing else: mints a short-lived
 * HS256 publisher token with the secret Herald verifies tokens with, and POSTs the message to /messages.
 *
 *     HERALD_URL=http://localhost:8080 HERALD_JWT_SECRET=... php publish.php alice "Your order shipped"
 *
 * In Laravel or Symfony, call heraldPublish() where the event happens (firebase/php-jwt would mint the
 * same token).
 */

declare(strict_types=1);

function base64url(string $bytes): string
{
    return rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
}

/** A token with "herald": {"publish": true}, HS256; $service (its sub) is what Herald rate-limits. */
function heraldPublisherToken(string $secret, string $service, int $ttlSeconds = 60): string
{
    $now = time();
    $header = ['alg' => 'HS256', 'typ' => 'JWT'];
    $claims = ['sub' => $service, 'iat' => $now, 'exp' => $now + $ttlSeconds, 'herald' => ['publish' => true]];
    $signingInput = base64url(json_encode($header)) . '.' . base64url(json_encode($claims));
    return $signingInput . '.' . base64url(hash_hmac('sha256', $signingInput, $secret, true));
}

/** POSTs one message (or a list of them) and returns the id Herald gave it; throws on a refusal. */
function heraldPublish(string $baseUrl, string $token, array $message): string
{
    $curl = curl_init(rtrim($baseUrl, '/') . '/messages');
    curl_setopt_array($curl, [
        CURLOPT_POST => true,
        CURLOPT_POSTFIELDS => json_encode($message, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR),
        CURLOPT_HTTPHEADER => ['Content-Type: application/json', 'Authorization: Bearer ' . $token],
        CURLOPT_RETURNTRANSFER => true,
        CURLOPT_CONNECTTIMEOUT => 5,
        CURLOPT_TIMEOUT => 10,
    ]);
    $body = curl_exec($curl);
    if ($body === false) {
        // Not answered at all (refused, timed out): safe to retry later.
        throw new RuntimeException('cannot reach ' . $baseUrl . ' (' . curl_error($curl) . ')');
    }
    $status = curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
    $answer = json_decode($body, true);
    if ($status !== 202) {
        // Errors are RFC 9457 problem documents: `detail` says what exactly is wrong.
        throw new RuntimeException($status . ' ' . ($answer['detail'] ?? $body));
    }
    return $answer['id'];
}

if ($argc !== 3) {
    fwrite(STDERR, "usage: php publish.php <user id> <text>\n");
    exit(2);
}
$secret = getenv('HERALD_JWT_SECRET');
if ($secret === false || $secret === '') {
    fwrite(STDERR, "set HERALD_JWT_SECRET to Herald's --jwt-secret\n");
    exit(2);
}
$baseUrl = getenv('HERALD_URL') ?: 'http://localhost:8080';
$message = ['to' => ['users' => [$argv[1]]], 'event' => 'notice', 'data' => ['text' => $argv[2]]];
try {
    echo heraldPublish($baseUrl, heraldPublisherToken($secret, 'php-example'), $message), "\n";
} catch (RuntimeException $error) {
    fwrite(STDERR, 'herald: ' . $error->getMessage() . "\n");
    exit(1);
}
