package oauth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
)

// Before a connect is stored the owner sees which account the provider
// connected: the name comes from the ID token's claims when the token
// endpoint returned one, else from the provider's userinfo_url when the
// operator set it. Either is for display only: the ID token is parsed
// without checking its signature (keygate authorizes nothing with it; it
// came straight from the token endpoint), and a userinfo answer that
// fails or names no one only leaves the account unnamed.

// accountClaims are the ID token's claims that name an account, in order.
var accountClaims = []string{"email", "preferred_username", "sub"}

// defaultUserinfoFields are read from a userinfo answer when the provider
// names none.
var defaultUserinfoFields = []string{"email", "preferred_username", "login", "name", "sub"}

const (
	maxUserinfoBody   = 64 << 10
	maxAccountDisplay = 200
	maxUserinfoFields = 8
)

var userinfoField = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// account names the account tok belongs to, "" when nothing does.
func (m *Manager) account(ctx context.Context, p *Provider, tok *oauth2.Token) string {
	if raw, ok := tok.Extra("id_token").(string); ok && raw != "" {
		claims := jwt.MapClaims{}
		if _, _, err := jwt.NewParser().ParseUnverified(raw, claims); err == nil {
			if name := firstField(claims, accountClaims); name != "" {
				return name
			}
		}
	}
	if p.UserinfoURL == "" {
		return ""
	}
	fields := p.UserinfoFields
	if len(fields) == 0 {
		fields = defaultUserinfoFields
	}
	info, err := m.userinfo(ctx, p.UserinfoURL, tok.AccessToken)
	if err != nil {
		return ""
	}
	return firstField(info, fields)
}

// userinfo asks the provider who the access token's account is. Its
// errors never carry the token or the answer.
func (m *Manager) userinfo(ctx context.Context, u, accessToken string) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, m.callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("userinfo request")
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("userinfo call failed")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("userinfo answered %d", resp.StatusCode)
	}
	var info map[string]any
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxUserinfoBody)).Decode(&info); err != nil {
		return nil, fmt.Errorf("userinfo answer is not a JSON object")
	}
	return info, nil
}

// firstField is the first of fields that holds a non-empty string or a
// number, cleaned for display.
func firstField(m map[string]any, fields []string) string {
	for _, f := range fields {
		var s string
		switch v := m[f].(type) {
		case string:
			s = v
		case float64:
			s = strconv.FormatFloat(v, 'f', -1, 64)
		}
		if s = displayName(s); s != "" {
			return s
		}
	}
	return ""
}

// displayName drops control and format characters (no bidi overrides to
// disguise a name) and bounds the length.
func displayName(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > maxAccountDisplay {
		s = string(r[:maxAccountDisplay]) + "…"
	}
	return s
}
