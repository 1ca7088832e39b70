package serve

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// errSlowBody is a request body that did not arrive within ReadTimeout; the server answers 408.
var errSlowBody = errors.New("request timeout")

// maxRejecting bounds the connections being turned away at one time: past it, a connection
// over the limit is closed without a reply rather than costing a goroutine.
const maxRejecting = 64

// connLimit is a listener that keeps at most max connections open. A connection over the limit
// gets a 503 with a JSON error (so that the client learns why) and is closed.
type connLimit struct {
	net.Listener
	s         *Server
	max       int64
	open      atomic.Int64
	rejecting atomic.Int64
}

// limit wraps ln with the server's connection limit.
func (s *Server) limit(ln net.Listener) net.Listener {
	return &connLimit{Listener: ln, s: s, max: int64(s.cfg.MaxConnections)}
}

func (l *connLimit) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) <= l.max {
			l.s.metrics.connections.Inc()
			return &limitedConn{Conn: c, release: func() {
				l.open.Add(-1)
				l.s.metrics.connections.Dec()
			}}, nil
		}
		l.open.Add(-1)
		l.s.metrics.rejected.Inc()
		if l.rejecting.Add(1) > maxRejecting {
			l.rejecting.Add(-1)
			c.Close()
			continue
		}
		go func() {
			defer l.rejecting.Add(-1)
			l.reject(c)
		}()
	}
}

// reject answers 503 and closes c. The reply goes out before the request is read; the request
// is then drained briefly so that closing does not reset the connection under the reply.
func (l *connLimit) reject(c net.Conn) {
	defer c.Close()
	body := fmt.Sprintf(`{"error":"too many connections: the server keeps at most %d open; retry later","status":503}`+"\n", l.max)
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := fmt.Fprintf(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body); err != nil {
		return
	}
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	io.Copy(io.Discard, io.LimitReader(c, 64<<10))
}

// limitedConn frees its slot once, on the first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
