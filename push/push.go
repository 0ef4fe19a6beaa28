// Package push is the client for Expo's push service: it hands messages to
// POST …/push/send in batches Expo accepts, reads delivery receipts from
// …/push/getReceipts, and retries what is worth retrying (429, 5xx, network
// errors) with capped exponential backoff and full jitter. It holds no state
// and knows no database: the dispatcher job decides what to send and what to
// do with the tickets and receipts.
//
// Delivery to Expo is at least once: when a request fails after Expo may have
// read it (a reset connection, a truncated answer) it is sent again, since a
// rare duplicate notification is better than a lost one. A 4xx other than 429
// is never retried: the same request would be refused again.
//
// Batches go one after the other, not in parallel, so that a failure leaves a
// clean prefix of accepted messages (see Send); the dispatcher sends at most a
// few batches per run, and Expo asks clients to keep connections few.
//
// push_sent_total{result} counts messages: "ok" and "error" per ticket (a
// message in a request that finally failed counts as "error"), "retry" per
// message each time its request is tried again.
package push

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Limits Expo puts on one request.
const (
	MaxMessagesPerRequest = 100
	MaxReceiptsPerRequest = 1000
)

// DefaultURL is Expo's public send endpoint (the EXPO_PUSH_URL default).
const DefaultURL = "https://exp.host/--/api/v2/push/send"

// Ticket and receipt statuses, and the error Expo gives for a token that can no
// longer receive pushes (the app was uninstalled or notifications revoked): the
// caller should switch that token off.
const (
	StatusOK                 = "ok"
	StatusError              = "error"
	ErrorDeviceNotRegistered = "DeviceNotRegistered"
	ErrorMessageTooBig       = "MessageTooBig"
	ErrorMessageRateExceeded = "MessageRateExceeded"
	ErrorInvalidCredentials  = "InvalidCredentials"
)

// Priorities Expo accepts in Message.Priority.
const (
	PriorityDefault = "default"
	PriorityNormal  = "normal"
	PriorityHigh    = "high"
)

// Message is one push notification, marshaled as Expo's send API expects.
type Message struct {
	// To is the recipient's Expo push token, ExponentPushToken[…].
	To    string `json:"to"`
	Title string `json:"title,omitempty"`
	Body  string `json:"body,omitempty"`
	// Data reaches the app alongside the notification.
	Data map[string]string `json:"data,omitempty"`
	// Sound is "default" to play the device's sound; empty for silence.
	Sound string `json:"sound,omitempty"`
	// Priority is one of the Priority constants; empty lets Expo choose.
	Priority string `json:"priority,omitempty"`
	// TTL is how many seconds the platforms keep trying to deliver; 0 omits
	// it and leaves the platform default.
	TTL int `json:"ttl,omitempty"`
}

// Ticket is Expo's answer for one sent message. Status "ok" means Expo queued
// it and ID names its future receipt; "error" means it was refused, with Error
// holding details.error (ErrorDeviceNotRegistered, ErrorMessageTooBig, …).
type Ticket struct {
	ID      string
	Status  string
	Message string
	Error   string
}

// Receipt is the delivery outcome of a ticket, read some minutes after sending.
type Receipt struct {
	Status  string
	Message string
	Error   string
}

// Options configures a Client. Zero values take the defaults noted.
type Options struct {
	// URL is the send endpoint (EXPO_PUSH_URL). Default DefaultURL.
	URL string
	// ReceiptsURL is the getReceipts endpoint. Default: URL with its last
	// path segment ("send") replaced by "getReceipts".
	ReceiptsURL string
	// AccessToken (EXPO_ACCESS_TOKEN) is sent as a bearer token when set.
	AccessToken string
	// HTTPClient defaults to one with a 30 s timeout per attempt.
	HTTPClient *http.Client
	// MaxAttempts bounds the tries of one request, the first included. Default 5.
	MaxAttempts int
	// BaseBackoff and MaxBackoff shape the wait between attempts: a random
	// duration in [0, min(MaxBackoff, BaseBackoff·2^retry)). A 429's or 503's
	// Retry-After is honored when it is at most MaxBackoff; a longer one ends
	// the attempts at once (the caller tries again later). Defaults 500 ms, 30 s.
	BaseBackoff, MaxBackoff time.Duration
	// Log defaults to a no-op logger.
	Log *zap.Logger
}

// Client talks to Expo's push service. It is safe for concurrent use.
type Client struct {
	sendURL     string
	receiptsURL string
	token       string
	http        *http.Client
	maxAttempts int
	base, max   time.Duration
	log         *zap.Logger
}

// New returns a client with o's settings, defaults filled in.
func New(o Options) *Client {
	c := &Client{
		sendURL: o.URL, receiptsURL: o.ReceiptsURL, token: o.AccessToken, http: o.HTTPClient,
		maxAttempts: o.MaxAttempts, base: o.BaseBackoff, max: o.MaxBackoff, log: o.Log,
	}
	if c.sendURL == "" {
		c.sendURL = DefaultURL
	}
	if c.receiptsURL == "" {
		c.receiptsURL = receiptsURLFor(c.sendURL)
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	if c.maxAttempts <= 0 {
		c.maxAttempts = 5
	}
	if c.base <= 0 {
		c.base = 500 * time.Millisecond
	}
	if c.max <= 0 {
		c.max = 30 * time.Second
	}
	if c.max < c.base {
		c.max = c.base
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	c.log = c.log.Named("push")
	return c
}

// receiptsURLFor derives the getReceipts endpoint from the send endpoint the
// way Expo lays them out: …/push/send → …/push/getReceipts.
func receiptsURLFor(send string) string {
	u, err := url.Parse(send)
	if err != nil {
		// Left as is: the request will fail with a clear error.
		return send
	}
	p := strings.TrimSuffix(u.Path, "/")
	if i := strings.LastIndex(p, "/"); i >= 0 && p[i+1:] == "send" {
		p = p[:i]
	}
	u.Path = p + "/getReceipts"
	u.RawPath = ""
	return u.String()
}

// MaskToken shortens a push token for logs: enough to tell tokens apart while
// debugging, not enough to send to it.
func MaskToken(tok string) string {
	inner, prefix := tok, ""
	if i := strings.IndexByte(tok, '['); i >= 0 && strings.HasSuffix(tok, "]") {
		prefix, inner = tok[:i+1], tok[i+1:len(tok)-1]
	}
	const keep = 4
	if len(inner) <= keep*2 {
		inner = "…"
	} else {
		inner = inner[:keep] + "…"
	}
	if prefix != "" {
		return prefix + inner + "]"
	}
	return inner
}
