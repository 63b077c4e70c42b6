package ownerpage

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
)

// The owners' page: server-rendered HTML with html/template, styles from
// one embedded CSS file, and no JavaScript at all. Every change is a plain
// form POST carrying a CSRF token, answered by a redirect back (or by the
// page again with a friendly error). No secret value is ever read for the
// page, so none can be rendered into it.

//go:embed web/templates/*.html web/static/*.css
var webFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"join":  func(s []string) string { return strings.Join(s, ", ") },
	"short": func(s string) string { return shortSHA(s) },
}).ParseFS(webFS, "web/templates/*.html"))

var styleCSS = func() []byte {
	b, err := fs.ReadFile(webFS, "web/static/style.css")
	if err != nil {
		panic(err)
	}
	return b
}()

// uiCSP allows the page its own stylesheet and forms, and nothing else:
// no script, no frame, no foreign form target.
const uiCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Routes registers the owners' page under /ui/ and the admin route that
// makes login links.
func (h *Page) Routes(m *http.ServeMux, admin AdminRoute) {
	m.HandleFunc("POST /v1/keychains/{id}/login-link", admin(h.mintLoginLink))

	m.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) {
		uiHeaders(w)
		http.Redirect(w, r, "/ui/", http.StatusMovedPermanently)
	})
	m.HandleFunc("GET /ui/{$}", h.uiPage(h.indexPage))
	m.HandleFunc("GET /ui/keychains/{id}", h.uiPage(h.keychainPage))
	m.HandleFunc("GET /ui/login", h.loginLinkPage)
	m.HandleFunc("POST /ui/login", h.loginLinkConfirm)
	m.HandleFunc("POST /ui/session", h.sessionExchange)
	m.HandleFunc("POST /ui/logout", h.uiForm(h.logout))
	m.HandleFunc("POST /ui/keychains/{id}/secret", h.uiForm(h.keychainAction(h.setSecret)))
	m.HandleFunc("POST /ui/keychains/{id}/secret/delete", h.uiForm(h.keychainAction(h.removeSecret)))
	m.HandleFunc("POST /ui/keychains/{id}/grant", h.uiForm(h.keychainAction(h.changeGrant)))
	m.HandleFunc("POST /ui/keychains/{id}/connect", h.uiForm(h.connectOAuth))
	h.waitingRoutes(m)
	m.HandleFunc("GET /ui/static/style.css", func(w http.ResponseWriter, r *http.Request) {
		uiHeaders(w)
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		_, _ = w.Write(styleCSS)
	})
	m.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		h.renderError(w, r, http.StatusNotFound, "There is no such page.")
	})
}

// uiHeaders are on every /ui/ answer.
func uiHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", uiCSP)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// pageData is what every template gets.
type pageData struct {
	Title  string
	Owner  string // signed-in owner; "" on sign-in pages
	CSRF   string
	Issuer bool   // platform sign-in is configured
	Next   string // where the signed-in page goes on
	// Refresh is the whole content attribute of a meta refresh, built
	// from Next by keygate (html/template refuses dynamic refresh URLs).
	Refresh template.HTMLAttr
	Notice  string
	Error   string

	// The sign-in confirmation: whom the link signs in, its token (posted
	// back), and who the browser is signed in as now, if anyone.
	LinkOwner, LinkToken, CurrentOwner string

	Connect *connectView // the connect about to go to the provider

	Keychains []kcLink    // the owner's keychains, for navigation
	Shown     []*kcDetail // the keychains shown in full
	Current   string      // id of the keychain page, "" on the overview
}

// renderPage executes a template into a buffer first, so a template error
// never leaves half a page behind.
func (h *Page) renderPage(w http.ResponseWriter, r *http.Request, status int, name string, d any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, d); err != nil {
		h.logger.Error("rendering owner page", zap.String("template", name), zap.Error(err))
		uiHeaders(w)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("keygate could not show this page.\n"))
		return
	}
	uiHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = buf.WriteTo(w)
	}
}

func (h *Page) renderError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.renderPage(w, r, status, "error.html", &pageData{Title: http.StatusText(status), Error: msg})
}

// renderSignIn answers a request that is not signed in, or whose
// credential does not hold.
func (h *Page) renderSignIn(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, errNoOwner) && !errors.Is(err, errBadOwner) {
		// The store failed to say: the session may well be good.
		h.logger.Error("looking up an owner session", zap.Error(err))
		h.renderError(w, r, http.StatusServiceUnavailable, storeDownMessage)
		return
	}
	d := &pageData{Title: "Sign in", Issuer: h.issuer != nil}
	if errors.Is(err, errBadOwner) {
		d.Error = "Your sign-in was not accepted. Sign in again."
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="keygate"`)
	h.renderPage(w, r, http.StatusUnauthorized, "login.html", d)
}

// uiPage wraps a GET page that needs a signed-in owner.
func (h *Page) uiPage(fn func(w http.ResponseWriter, r *http.Request, o *owner)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		o, err := h.identify(r)
		if err != nil {
			h.renderSignIn(w, r, err)
			return
		}
		fn(w, r, o)
	}
}

// uiForm wraps a form POST: a signed-in owner, a bounded urlencoded body,
// and the cross-site and CSRF checks, before anything changes.
func (h *Page) uiForm(fn func(w http.ResponseWriter, r *http.Request, o *owner)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		o, err := h.identify(r)
		if err != nil {
			h.renderSignIn(w, r, err)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, h.MaxBodyBytes)
		if err := r.ParseForm(); err != nil {
			h.renderError(w, r, http.StatusBadRequest, "The form could not be read. Reload the page and try again.")
			return
		}
		if !h.checkForm(r, o) {
			h.renderError(w, r, http.StatusForbidden, "This form has expired or did not come from this page. Reload the page and try again.")
			return
		}
		fn(w, r, o)
	}
}
