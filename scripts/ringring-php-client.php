<?php
// Drives the official RingRing PHP client (RingRing-cloud/MessageApiClient-PHP) through its
// public API against a RingRing-compatible server: every call the client offers, each answer
// printed and checked. Run through scripts/ringring-php-client, which explains the arguments.

[$script, $clientDir, $baseUrl, $apiKey, $wrongKey] = $argv + [null, null, null, null, null];
if ($clientDir === null || $baseUrl === null || $apiKey === null || $wrongKey === null) {
    fwrite(STDERR, "usage: php $script CLIENT_DIR BASE_URL API_KEY WRONG_KEY\n");
    exit(2);
}
require_once rtrim($clientDir, '/') . '/autoload.php';

use RingRing\Client;
use RingRing\Common\HTTPClient;
use RingRing\Model\Request\CancelRequest;
use RingRing\Model\Request\IncomingMessageStatusRequest;
use RingRing\Model\Request\MessageRequest;
use RingRing\Model\Request\MessageStatusRequest;
use RingRing\Model\Request\OutgoingMessageStatusRequest;

const GUID = '/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i';
$endpoint = rtrim($baseUrl, '/') . '/sms/%s';
$failures = 0;

function client(string $key, string $endpoint, string $target = 'V1'): Client
{
    return new Client($key, new HTTPClient($endpoint, $target));
}

// Calls the client (whose HTTPClient echoes an HTML debug dump of every request, dropped
// here), prints the answer and returns it decoded; a step that misbehaves is counted, and
// the next steps still run with what it returned.
function step(string $name, callable $call, callable $check): array
{
    global $failures;
    ob_start();
    try {
        $body = $call();
    } catch (Throwable $error) {
        ob_end_clean();
        echo "$name: FAILED: " . get_class($error) . ': ' . $error->getMessage() . "\n";
        $failures++;
        return [];
    }
    ob_end_clean();
    $shown = strlen((string) $body) > 300
        ? substr((string) $body, 0, 300) . '... (' . strlen((string) $body) . ' bytes)' : $body;
    echo "$name: $shown\n";
    $answer = json_decode((string) $body, true);
    $problem = is_array($answer) ? $check($answer) : 'the answer is not a JSON object';
    if ($problem !== null) {
        echo "$name: FAILED: $problem\n";
        $failures++;
    }
    return is_array($answer) ? $answer : [];
}

function succeeded(array $answer): ?string
{
    return ($answer['ResultCode'] ?? null) === 0 ? null : 'ResultCode is not 0';
}

function sent(array $answer): ?string
{
    $id = $answer['Messages'][0]['MessageId'] ?? '';
    if (succeeded($answer) !== null) {
        return 'ResultCode is not 0';
    }
    return preg_match(GUID, (string) $id) ? null : "MessageId '$id' is not a GUID";
}

function messageId(array $answer): string
{
    return $answer['Messages'][0]['MessageId'] ?? '';
}

$client = client($apiKey, $endpoint);

$send = step('send', fn () => $client->sendMessage(new MessageRequest([
    'to' => '32470000001',
    'message' => 'Hello from the RingRing PHP client',
    'reference' => 'php-send',
])), 'sent');

step('status_message', fn () => $client->getMessageStatus(new MessageStatusRequest([
    'messageID' => messageId($send),
])), fn ($answer) => succeeded($answer) ?? (
    ($answer['MessageId'] ?? null) === messageId($send) ? null : 'another MessageId'
));

$scheduled = step('scheduled_send', fn () => $client->sendMessage(new MessageRequest([
    'to' => '32470000002',
    'message' => 'Scheduled from the RingRing PHP client',
    'timeScheduled' => '31-12-2099 10:00',
    'reference' => 'php-scheduled',
])), 'sent');

step('cancel', fn () => $client->cancelMessage(new CancelRequest([
    'messageID' => messageId($scheduled),
])), fn ($answer) => succeeded($answer) ?? (
    ($answer['MessageId'] ?? null) === messageId($scheduled) ? null : 'another MessageId'
));

step('status', fn () => $client->getOutgoingMessageStatus(new OutgoingMessageStatusRequest([
    'maxRecords' => 10,
])), fn ($answer) => succeeded($answer) ?? (
    is_int($answer['NumberOfRecords'] ?? null) ? null : 'NumberOfRecords is not an integer'
));

step('incoming', fn () => $client->getIncomingMessageStatus(new IncomingMessageStatusRequest([
    'maxRecords' => 10,
])), fn ($answer) => succeeded($answer) ?? (
    is_array($answer['IncomingMessages'] ?? null) ? null : 'no IncomingMessages list'
));

step('wrong_key', fn () => client($wrongKey, $endpoint)->sendMessage(new MessageRequest([
    'to' => '32470000001',
    'message' => 'Refused: wrong key',
])), fn ($answer) => in_array($answer['ResultCode'] ?? null, [12, 14], true)
    ? null : 'ResultCode is not 12 or 14 (ApiKey invalid)');

step('sandbox_send', fn () => client($apiKey, $endpoint, 'sandbox')->sendMessage(
    new MessageRequest(['to' => '32470000003', 'message' => 'Sandbox from the PHP client'])
), 'sent');

$many = implode(',', array_map(fn ($n) => sprintf('324700%05d', $n), range(100, 199)));
step('send_many', fn () => $client->sendMessage(new MessageRequest([
    'to' => $many,
    'message' => 'To 100 recipients: a body over 1 KiB, sent by curl with Expect: 100-continue',
])), fn ($answer) => sent($answer) ?? (
    ($answer['MessageCount'] ?? null) === 100 ? null : 'MessageCount is not 100'
));

// Over 1 MiB, libcurl (7.88 here; older ones over 1 KiB) sends `Expect: 100-continue`, and
// the client splits the answer at its first blank line, skipping a first part that is
// exactly the bare interim line: the answer is a JSON object only if the server's
// 100 Continue carried no header (or if the server refused before asking for the body).
step('send_large', fn () => $client->sendMessage(new MessageRequest([
    'to' => '32470000001',
    'message' => str_repeat('Large body. ', 90000),
])), fn ($answer) => is_int($answer['ResultCode'] ?? null) && $answer['ResultCode'] !== 0
    ? null : 'not refused with a ResultCode');

echo $failures === 0 ? "all steps passed\n" : "$failures step(s) failed\n";
exit($failures === 0 ? 0 : 1);
