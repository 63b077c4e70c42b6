package main

import (
	"fmt"
	"runtime/debug"

	"github.com/caddyserver/caddy/v2"
)

const modulePath = "github.com/keygate/keygate"

func readBuildInfo() *debug.BuildInfo {
	bi, _ := debug.ReadBuildInfo()
	return bi
}

// versionText names keygate's version and the Caddy it embeds, from the
// build info Go stamps into the binary: keygate is the main module when
// built from its repository, a dependency when built by xcaddy.
func versionText(bi *debug.BuildInfo) string {
	simple, _ := caddy.Version()
	return fmt.Sprintf("keygate %s\nCaddy %s", keygateVersion(bi), simple)
}

func keygateVersion(bi *debug.BuildInfo) string {
	if bi == nil {
		return "(unknown: no build info)"
	}
	if bi.Main.Path == modulePath {
		return withRevision(bi.Main.Version, bi.Settings)
	}
	for _, d := range bi.Deps {
		if d.Path != modulePath {
			continue
		}
		if d.Replace != nil {
			if d.Replace.Version != "" {
				return d.Replace.Version
			}
			return "(devel, from " + d.Replace.Path + ")"
		}
		return d.Version
	}
	return "(unknown: keygate is not in the build info)"
}

// withRevision adds the commit to a "(devel)" version, when Go stamped it.
func withRevision(v string, settings []debug.BuildSetting) string {
	if v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "(devel)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "+dirty"
	}
	return "(devel) " + rev
}
