package egress

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/keygate/keygate/caddymodule/gateway"
)

// redactedToken stands for the token header's value in the lines keygate
// writes in place of Caddy's.
const redactedToken = "REDACTED"

// tokenLog keeps a token sent in the route's token header out of Caddy's
// access and error logs. Caddy prints a copy of the request's headers taken
// before any handler runs, redacting only Authorization, Proxy-Authorization
// and cookies, and offers no hook to change that copy. So for such a
// request keygate routes Caddy's own lines to no logger at all (the
// per-request access_logger_names variable, which Caddy consults for both
// its access and its error line) and writes the access line itself, to the
// same loggers, with the token header redacted. Errors of the upstream are
// answered as 502 problems, so that no error line is due.
type tokenLog struct {
	token   string
	header  string
	uri     string        // the request URI to log instead, for a token in the query
	loggers []*zap.Logger // nil: the server keeps no access log for req
	start   time.Time
}

func (t *Transport) silenceCaddyLogs(req *http.Request) *tokenLog {
	tl := &tokenLog{header: t.TokenHeader, start: time.Now()}
	srv, _ := req.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	if srv == nil || srv.Logs == nil || t.httpLog == nil {
		return tl
	}
	if skip, _ := caddyhttp.GetVar(req.Context(), caddyhttp.LogSkipVar).(bool); skip {
		caddyhttp.SetVar(req.Context(), caddyhttp.AccessLoggerNameVarKey, []any{})
		return tl
	}
	base := t.httpLog.Named("log.access")
	for _, name := range accessLoggerNames(srv.Logs, req) {
		l := base
		if name != "" {
			l = base.Named(name)
		}
		tl.loggers = append(tl.loggers, l)
	}
	caddyhttp.SetVar(req.Context(), caddyhttp.AccessLoggerNameVarKey, []any{})
	return tl
}

// accessLoggerNames are the names Caddy would log req's access line under:
// those a log_name directive chose, else those mapped to its host.
func accessLoggerNames(slc *caddyhttp.ServerLogConfig, req *http.Request) []string {
	if names, ok := caddyhttp.GetVar(req.Context(), caddyhttp.AccessLoggerNameVarKey).([]any); ok {
		out := make([]string, 0, len(names))
		for _, n := range names {
			if s, ok := n.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	host, _, err := net.SplitHostPort(req.Host)
	if err != nil {
		host = req.Host
	}
	host = strings.ToLower(host)
	if names, ok := slc.LoggerNames[host]; ok {
		return names
	}
	labels := strings.Split(host, ".")
	for i := range labels {
		if labels[i] == "" {
			continue
		}
		labels[i] = "*"
		if names, ok := slc.LoggerNames[strings.Join(labels, ".")]; ok {
			return names
		}
	}
	return []string{slc.DefaultLoggerName}
}

// finish turns an upstream error into a 502 problem (an error would make
// Caddy log the request's headers) and arranges for the access line to be
// written when the response body is closed, once its size is known.
func (tl *tokenLog) finish(req *http.Request, res *http.Response, err error) (*http.Response, error) {
	if tl == nil {
		return res, err
	}
	if err != nil {
		if res != nil && res.Body != nil {
			res.Body.Close()
		}
		res = gateway.ProblemResponse(req, gateway.NewProblem(http.StatusBadGateway, "upstream_unreachable", "the upstream could not be reached"))
	}
	if len(tl.loggers) > 0 {
		res.Body = &loggedBody{ReadCloser: res.Body, tl: tl, req: req, res: res}
	}
	return res, nil
}

// loggedBody counts what reverse_proxy copies to the caller and writes the
// access line when it closes the body.
type loggedBody struct {
	io.ReadCloser
	tl   *tokenLog
	req  *http.Request
	res  *http.Response
	size int
	once sync.Once
}

func (b *loggedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.size += n
	return n, err
}

func (b *loggedBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.write)
	return err
}

func (b *loggedBody) write() {
	lr := *b.req
	lr.Header = b.req.Header.Clone()
	if b.tl.header != "" {
		lr.Header.Set(b.tl.header, redactedToken)
	}
	if orig, ok := b.req.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok {
		lr.Method, lr.RemoteAddr, lr.RequestURI = orig.Method, orig.RemoteAddr, orig.RequestURI
	}
	if b.tl.uri != "" {
		lr.RequestURI = b.tl.uri
	}
	level := zapcore.InfoLevel
	if b.res.StatusCode >= 500 {
		level = zapcore.ErrorLevel
	}
	fields := []zap.Field{
		zap.Object("request", caddyhttp.LoggableHTTPRequest{Request: &lr}),
		zap.Duration("duration", time.Since(b.tl.start)),
		zap.Int("size", b.size),
		zap.Int("status", b.res.StatusCode),
		zap.Object("resp_headers", caddyhttp.LoggableHTTPHeader{Header: b.res.Header}),
	}
	for _, l := range b.tl.loggers {
		if c := l.Check(level, "handled request"); c != nil {
			c.Write(fields...)
		}
	}
}
