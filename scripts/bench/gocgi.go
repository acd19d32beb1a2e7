// gocgi: the Go peer of scripts/bench.sh. Serves every program in a folder
// at /cgi-bin/NAME[/PATH_INFO] with Go's net/http/cgi, on 127.0.0.1 only,
// and writes an access line per request to stderr, as the other hosts of
// the benchmark write theirs to a file.
//
//	gocgi -root DIR -port PORT
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"net/http/cgi"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	root := flag.String("root", "", "folder of CGI programs")
	port := flag.Int("port", 0, "TCP port on 127.0.0.1")
	flag.Parse()
	http.HandleFunc("/cgi-bin/", func(w http.ResponseWriter, r *http.Request) {
		// The first segment names the program, the rest is PATH_INFO.
		name, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/cgi-bin/"), "/")
		if name == "" || strings.HasPrefix(name, ".") {
			http.NotFound(w, r)
			return
		}
		start := time.Now()
		h := cgi.Handler{Path: filepath.Join(*root, name), Root: "/cgi-bin/" + name}
		h.ServeHTTP(w, r)
		log.Printf("%s %q %d us", r.RemoteAddr, r.Method+" "+r.RequestURI, time.Since(start).Microseconds())
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(*port))
	log.Fatal(http.ListenAndServe(addr, nil))
}
