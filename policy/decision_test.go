package policy

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/keygate/keygate/store"
)

var (
	shaOld = strings.Repeat("a", 64)
	shaNew = strings.Repeat("b", 64)
)

func testPackage() *store.Manifest {
	return &store.Manifest{
		Name:   "@acme/stripe-tools",
		SHA256: shaNew,
		Host:   "stripe-tools",
		Keys: []store.KeySpec{
			{Name: "STRIPE_SECRET_KEY", Required: true, Description: "Stripe secret key", Hosts: []string{"api.stripe.com"}},
			{Name: "OPENAI_API_KEY", Required: false, Description: "optional"},
			{Name: "GITHUB_TOKEN", Required: true, Description: "GitHub token"},
			{Name: "SLACK_TOKEN", Required: false},
		},
		AppKeys: []store.KeySpec{
			{Name: "WEBHOOK_SIGNING_SECRET", Required: true, Description: "set by the developer"},
			{Name: "CLIENT_SECRET"},
		},
	}
}

func grantFor(sha string, keys ...string) *store.Grant {
	return &store.Grant{Keychain: "kc_x", Package: "@acme/stripe-tools", SHA256: sha, Keys: keys}
}

func hasOnly(names ...string) func(string) bool {
	return func(n string) bool {
		for _, m := range names {
			if m == n {
				return true
			}
		}
		return false
	}
}

func TestDecide(t *testing.T) {
	pkg := testPackage()
	stripe, github := pkg.Keys[0], pkg.Keys[2]
	all := hasOnly("STRIPE_SECRET_KEY", "OPENAI_API_KEY", "GITHUB_TOKEN", "SLACK_TOKEN", "OLD_KEY")
	tests := []struct {
		name   string
		grant  *store.Grant
		has    func(string) bool
		usable []string
		denial *Denial
	}{
		{
			name:   "no grant",
			grant:  nil,
			has:    all,
			denial: &Denial{Reason: NoGrant, Package: pkg.Name},
		},
		{
			name:   "grant for another package",
			grant:  &store.Grant{Package: "@evil/pkg", SHA256: shaNew, Keys: []string{"STRIPE_SECRET_KEY", "GITHUB_TOKEN"}},
			has:    all,
			denial: &Denial{Reason: NoGrant, Package: pkg.Name},
		},
		{
			name:   "stale grant",
			grant:  grantFor(shaOld, "STRIPE_SECRET_KEY", "GITHUB_TOKEN"),
			has:    all,
			denial: &Denial{Reason: StaleGrant, Package: pkg.Name, GrantedSHA: shaOld, CurrentSHA: shaNew},
		},
		{
			name:   "grant without sha",
			grant:  grantFor("", "STRIPE_SECRET_KEY", "GITHUB_TOKEN"),
			has:    all,
			denial: &Denial{Reason: StaleGrant, Package: pkg.Name, CurrentSHA: shaNew},
		},
		{
			name:   "sha differs only in case",
			grant:  grantFor(strings.ToUpper(shaNew), "STRIPE_SECRET_KEY", "GITHUB_TOKEN"),
			has:    all,
			denial: &Denial{Reason: StaleGrant, Package: pkg.Name, GrantedSHA: strings.ToUpper(shaNew), CurrentSHA: shaNew},
		},
		{
			name:   "required keys approved, with values",
			grant:  grantFor(shaNew, "STRIPE_SECRET_KEY", "GITHUB_TOKEN"),
			has:    all,
			usable: []string{"GITHUB_TOKEN", "STRIPE_SECRET_KEY"},
		},
		{
			name:   "everything approved, sorted",
			grant:  grantFor(shaNew, "SLACK_TOKEN", "STRIPE_SECRET_KEY", "OPENAI_API_KEY", "GITHUB_TOKEN"),
			has:    all,
			usable: []string{"GITHUB_TOKEN", "OPENAI_API_KEY", "SLACK_TOKEN", "STRIPE_SECRET_KEY"},
		},
		{
			name:   "required key not approved",
			grant:  grantFor(shaNew, "STRIPE_SECRET_KEY", "OPENAI_API_KEY"),
			has:    all,
			denial: &Denial{Reason: MissingKeys, Package: pkg.Name, Missing: []store.KeySpec{github}},
		},
		{
			name:   "required key approved without value",
			grant:  grantFor(shaNew, "STRIPE_SECRET_KEY", "GITHUB_TOKEN"),
			has:    hasOnly("GITHUB_TOKEN"),
			denial: &Denial{Reason: MissingKeys, Package: pkg.Name, Missing: []store.KeySpec{stripe}},
		},
		{
			name:   "every required key missing, in manifest order",
			grant:  grantFor(shaNew),
			has:    all,
			denial: &Denial{Reason: MissingKeys, Package: pkg.Name, Missing: []store.KeySpec{stripe, github}},
		},
		{
			name:   "nil has means no values",
			grant:  grantFor(shaNew, "STRIPE_SECRET_KEY", "GITHUB_TOKEN"),
			has:    nil,
			denial: &Denial{Reason: MissingKeys, Package: pkg.Name, Missing: []store.KeySpec{stripe, github}},
		},
		{
			name:   "optional approved key without value is not usable",
			grant:  grantFor(shaNew, "STRIPE_SECRET_KEY", "GITHUB_TOKEN", "OPENAI_API_KEY"),
			has:    hasOnly("STRIPE_SECRET_KEY", "GITHUB_TOKEN"),
			usable: []string{"GITHUB_TOKEN", "STRIPE_SECRET_KEY"},
		},
		{
			name:   "approved key no longer requested is ignored",
			grant:  grantFor(shaNew, "STRIPE_SECRET_KEY", "GITHUB_TOKEN", "OLD_KEY"),
			has:    all,
			usable: []string{"GITHUB_TOKEN", "STRIPE_SECRET_KEY"},
		},
		{
			name:   "value without approval is not usable",
			grant:  grantFor(shaNew, "STRIPE_SECRET_KEY", "GITHUB_TOKEN"),
			has:    all, // OPENAI_API_KEY and SLACK_TOKEN have values but are not approved
			usable: []string{"GITHUB_TOKEN", "STRIPE_SECRET_KEY"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			usable, err := Decide(pkg, tc.grant, tc.has)
			if tc.denial == nil {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if !reflect.DeepEqual(usable, tc.usable) {
					t.Fatalf("usable = %v, want %v", usable, tc.usable)
				}
				return
			}
			var d *Denial
			if !errors.As(err, &d) {
				t.Fatalf("err = %v, want a Denial", err)
			}
			if usable != nil {
				t.Fatalf("usable = %v on a denial", usable)
			}
			if !reflect.DeepEqual(d, tc.denial) {
				t.Fatalf("denial = %+v\nwant     %+v", d, tc.denial)
			}
		})
	}
}

func TestDecideAsksOnlyAboutApprovedKeys(t *testing.T) {
	pkg := testPackage()
	var asked []string
	has := func(n string) bool { asked = append(asked, n); return true }
	if _, err := Decide(pkg, grantFor(shaNew, "STRIPE_SECRET_KEY", "GITHUB_TOKEN"), has); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(asked, []string{"STRIPE_SECRET_KEY", "GITHUB_TOKEN"}) {
		t.Fatalf("asked about %v", asked)
	}
}

func TestDecideDuplicateKeysInManifest(t *testing.T) {
	pkg := &store.Manifest{Name: "p", SHA256: shaNew, Keys: []store.KeySpec{{Name: "A"}, {Name: "A"}}}
	usable, err := Decide(pkg, &store.Grant{Package: "p", SHA256: shaNew, Keys: []string{"A"}}, hasOnly("A"))
	if err != nil || !reflect.DeepEqual(usable, []string{"A"}) {
		t.Fatalf("usable %v err %v", usable, err)
	}
}

func TestDecideNilPackage(t *testing.T) {
	if _, err := Decide(nil, grantFor(shaNew), hasOnly()); err == nil {
		t.Fatal("nil package accepted")
	}
	if err := CheckGrantKeys(nil, nil); err == nil {
		t.Fatal("nil package accepted")
	}
}

func TestCheckGrantKeys(t *testing.T) {
	pkg := testPackage()
	tests := []struct {
		name string
		keys []string
		ok   bool
		bad  string // the key named by the denial
	}{
		{"none", nil, true, ""},
		{"requested", []string{"STRIPE_SECRET_KEY", "OPENAI_API_KEY"}, true, ""},
		{"not requested", []string{"STRIPE_SECRET_KEY", "AWS_SECRET"}, false, "AWS_SECRET"},
		{"app key is not a user key", []string{"WEBHOOK_SIGNING_SECRET"}, false, "WEBHOOK_SIGNING_SECRET"},
		{"case matters", []string{"stripe_secret_key"}, false, "stripe_secret_key"},
		{"empty name", []string{""}, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckGrantKeys(pkg, tc.keys)
			if tc.ok {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var d *Denial
			if !errors.As(err, &d) || d.Reason != NotRequested || d.Key != tc.bad || d.Package != pkg.Name {
				t.Fatalf("err = %#v", err)
			}
			// The denial lists what the package does request, so that the
			// answer can show the right spelling.
			if want := []string{"STRIPE_SECRET_KEY", "OPENAI_API_KEY", "GITHUB_TOKEN", "SLACK_TOKEN"}; !reflect.DeepEqual(d.Requested, want) {
				t.Fatalf("requested %v, want %v", d.Requested, want)
			}
		})
	}
}

func TestCheckUsable(t *testing.T) {
	claims := &InvocationClaims{Invocation: Invocation{
		Package: "@acme/stripe-tools",
		Keys:    []string{"STRIPE_SECRET_KEY"},
		AppKeys: []string{"WEBHOOK_SIGNING_SECRET"},
	}}
	tests := []struct {
		name   string
		claims *InvocationClaims
		check  func(*InvocationClaims, string) error
		key    string
		ok     bool
	}{
		{"user key in token", claims, CheckUsable, "STRIPE_SECRET_KEY", true},
		{"user key not in token", claims, CheckUsable, "OPENAI_API_KEY", false},
		{"app key asked as user key", claims, CheckUsable, "WEBHOOK_SIGNING_SECRET", false},
		{"empty name", claims, CheckUsable, "", false},
		{"nil claims", nil, CheckUsable, "STRIPE_SECRET_KEY", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check(tc.claims, tc.key)
			if tc.ok {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var d *Denial
			if !errors.As(err, &d) || d.Reason != NotApproved || d.Key != tc.key {
				t.Fatalf("err = %#v", err)
			}
			if tc.claims != nil && d.Package != tc.claims.Package {
				t.Fatalf("package %q", d.Package)
			}
		})
	}
}

func TestDenialMessagesHoldNoValues(t *testing.T) {
	pkg := testPackage()
	denials := []*Denial{
		{Reason: NoGrant, Package: pkg.Name},
		{Reason: StaleGrant, Package: pkg.Name, GrantedSHA: shaOld, CurrentSHA: shaNew},
		{Reason: MissingKeys, Package: pkg.Name, Missing: pkg.Keys},
		{Reason: NotRequested, Package: pkg.Name, Key: "sk_live_oops_a_secret_value"},
		{Reason: NotApproved, Package: pkg.Name, Key: "STRIPE_SECRET_KEY"},
		{Reason: HostNotAllowed, Package: pkg.Name, Key: "STRIPE_SECRET_KEY"},
		{Reason: PackageGone, Package: pkg.Name},
		{Reason: TokenRevoked},
		{Reason: "something_new", Package: pkg.Name, Key: "K"},
	}
	seen := map[string]bool{}
	for _, d := range denials {
		msg := d.Error()
		if msg == "" || seen[msg] {
			t.Errorf("%s: message %q empty or shared", d.Reason, msg)
		}
		seen[msg] = true
		for _, v := range []string{pkg.Name, shaOld, shaNew, d.Key, "STRIPE", "GITHUB"} {
			if v != "" && strings.Contains(msg, v) {
				t.Errorf("%s: message %q holds %q", d.Reason, msg, v)
			}
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	pkg := testPackage()
	grant := grantFor(shaNew, "STRIPE_SECRET_KEY", "GITHUB_TOKEN", "OPENAI_API_KEY")
	has := hasOnly("STRIPE_SECRET_KEY", "GITHUB_TOKEN", "OPENAI_API_KEY")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decide(pkg, grant, has); err != nil {
			b.Fatal(err)
		}
	}
}
