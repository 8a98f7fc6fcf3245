// Package static embeds Keygate's stylesheet, script and icons and serves
// them under content-hashed URLs, so browsers may cache them for a year.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed *.css *.js *.svg
var files embed.FS

// Prefix is the URL path under which assets are served.
const Prefix = "/static/"

var (
	// byName maps a file name to its hashed name; byHashed the reverse.
	byName   = map[string]string{}
	byHashed = map[string]string{}
)

func init() {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		buf, err := fs.ReadFile(files, e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(buf)
		ext := path.Ext(e.Name())
		hashed := strings.TrimSuffix(e.Name(), ext) + "." + hex.EncodeToString(sum[:])[:12] + ext
		byName[e.Name()] = hashed
		byHashed[hashed] = e.Name()
	}
}

// URL returns the content-hashed URL of an asset. It panics on an unknown
// name, which only a programming error can cause.
func URL(name string) string {
	hashed, ok := byName[name]
	if !ok {
		panic("static: unknown asset " + name)
	}
	return Prefix + hashed
}

// Handler serves assets by their hashed names with year-long immutable
// caching; any other name is 404.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := byHashed[strings.TrimPrefix(r.URL.Path, Prefix)]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		http.ServeFileFS(w, r, files, name)
	})
}
