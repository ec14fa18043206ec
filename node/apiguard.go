package node

import (
	"net"
	"net/http"
	"strings"
)

// guardLocal wraps a node's (or the swarm view's) API for what binding to
// 127.0.0.1 does not stop: a web page the operator visits. A request must
// name a loopback host (127.0.0.0/8, ::1 or localhost, any port): a
// hostile name rebound to 127.0.0.1 (DNS rebinding) is answered 421
// without reading anything. A request a browser marks as cross-site
// (Sec-Fetch-Site) is refused with 403, so no page elsewhere can make the
// node scan its store or profile itself. Every reply carries nosniff.
func guardLocal(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if !loopbackHost(r.Host) {
			http.Error(w, "node: the API answers requests for 127.0.0.1, ::1 and localhost only", http.StatusMisdirectedRequest)
			return
		}
		if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			http.Error(w, "node: the API does not answer other sites' pages", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a request's Host names a loopback address.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
