package serve

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are a server's Prometheus metrics, in a registry of its own so that several servers
// (tests start many) never collide in the global one.
type metrics struct {
	registry *prometheus.Registry

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	inflight prometheus.Gauge
	pairs    prometheus.Counter

	connections prometheus.Gauge
	rejected    prometheus.Counter

	batchWindows  prometheus.Histogram
	batchJobs     prometheus.Histogram
	batchSeconds  prometheus.Histogram
	forwardErrors prometheus.Counter
}

func newMetrics(queueLength func() float64) *metrics {
	sizes := []float64{1, 2, 4, 8, 16, 32, 64, 128}
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanqa_http_requests_total", Help: "HTTP requests by handler and status code.",
		}, []string{"handler", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "spanqa_http_request_duration_seconds", Help: "HTTP request latency by handler.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16), // 1 ms .. 33 s
		}, []string{"handler"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spanqa_http_errors_total", Help: "HTTP requests answered with an error, by handler and reason.",
		}, []string{"handler", "reason"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spanqa_http_requests_in_flight", Help: "HTTP requests being served.",
		}),
		pairs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanqa_answered_pairs_total", Help: "(question, context) pairs answered.",
		}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spanqa_http_connections_open", Help: "Open client connections.",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanqa_http_connections_rejected_total", Help: "Connections turned away because MaxConnections were open.",
		}),
		batchWindows: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "spanqa_batch_windows", Help: "Windows per forward pass.", Buckets: sizes,
		}),
		batchJobs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "spanqa_batch_requests", Help: "Calls (requests, or parts of long ones) merged into one forward pass.", Buckets: sizes,
		}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "spanqa_forward_duration_seconds", Help: "Duration of a forward pass.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5 ms .. 16 s
		}),
		forwardErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spanqa_forward_errors_total", Help: "Forward passes that failed.",
		}),
	}
	m.registry.MustRegister(m.requests, m.latency, m.errors, m.inflight, m.pairs, m.connections, m.rejected,
		m.batchWindows, m.batchJobs, m.batchSeconds, m.forwardErrors,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "spanqa_queue_length", Help: "Jobs waiting for the model's worker.",
		}, queueLength),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// observeBatch records one forward pass.
func (m *metrics) observeBatch(b BatchInfo) {
	m.batchWindows.Observe(float64(b.Windows))
	m.batchJobs.Observe(float64(b.Jobs))
	m.batchSeconds.Observe(b.Duration.Seconds())
	if b.Err != nil {
		m.forwardErrors.Inc()
	}
}
