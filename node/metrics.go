package node

import (
	"net/http"
	"runtime"
	"time"

	"github.com/evoswarm/evoswarm/internal/version"
	"github.com/evoswarm/evoswarm/island"
	"github.com/evoswarm/evoswarm/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are a node's Prometheus metrics, served at GET /metrics on the
// loopback API. They live on a registry of their own (not the global one),
// so that one process, a test say, can run several nodes.
//
// Most values are read at scrape time (collector): the store's counters,
// which survive restarts, the population, and the exchange's and gossip
// layer's counters. Only what needs one observation per event is updated
// as it happens, through hooks: the training time of each individual and
// the phases of each child (island.Config.OnTrained), and how far each
// re-measured migrant's claimed fitness was from the measure
// (exchange.onClaim).
type metrics struct {
	reg      *prometheus.Registry
	training prometheus.Histogram
	claims   prometheus.Histogram
	// phases has one series per island.Phase; phase holds them by Phase.
	phases *prometheus.HistogramVec
	phase  [island.NumPhases]prometheus.Observer
	child  prometheus.Histogram
}

// childBuckets cover a child's phases from 1 ms to about 2 min
// (0.001 * 2^17 = 131 s).
var childBuckets = prometheus.ExponentialBuckets(0.001, 2, 18)

// newMetrics builds the metrics of a node over its store and its exchange
// (nil before the gossip layer runs, and in tests), and hooks the claim
// histogram into the exchange. Call it before the exchange runs.
func newMetrics(s *store.Store, ex *exchange) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		training: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "evoswarm_training_seconds",
			Help:    "Wall time spent training (and evaluating) each individual trained here.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 15), // 1 s to about 4.5 h
		}),
		claims: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "evoswarm_migrant_claim_error_ratio",
			Help:    "Absolute difference between a migrant's claimed validation accuracy and the one measured here.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.02, ClaimTolerance, 0.1, 0.2, 0.5, 1},
		}),
		phases: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "evoswarm_child_phase_seconds",
			Help: "Wall time of each phase of producing a child here: select (tournament, reserve and kill in the store), " +
				"mutate, build (parent's weights decoded, model laid out, inherited, network built), train (the steps), " +
				"evaluate (validation split), store (recorded, weights copied out and encoded, inserted), emigrate " +
				"(a migrant published after it, zero when none was due). The phases of a child add up to evoswarm_child_seconds.",
			Buckets: childBuckets,
		}, []string{"phase"}),
		child: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "evoswarm_child_seconds",
			Help:    "Wall time of producing each child here, from the tournament to the emigration it triggered.",
			Buckets: childBuckets,
		}),
	}
	// Every phase's series exists from the start, at zero.
	for p := range island.NumPhases {
		m.phase[p] = m.phases.WithLabelValues(p.String())
	}
	m.reg.MustRegister(m.training, m.claims, m.phases, m.child, &collector{s: s, ex: ex})
	// The Go runtime's (go_memstats_*, go_goroutines) and the process's
	// (process_resident_memory_bytes, open files) series: a node's memory is
	// watched with the rest of it, and the Go heap told apart from Badger's
	// memory-mapped files.
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "evoswarm_build_info",
		Help:        "Always 1; the labels name the build.",
		ConstLabels: prometheus.Labels{"version": version.Version, "goversion": runtime.Version()},
	}, func() float64 { return 1 }))
	if ex != nil {
		ex.onClaim = m.claims.Observe
	}
	return m
}

// observeTraining records one individual's training time. Safe on a nil
// receiver.
func (m *metrics) observeTraining(seconds float64) {
	if m != nil {
		m.training.Observe(seconds)
	}
}

// observe is the island's OnTrained hook: the training time of every
// individual trained here, and the phases of every child. Safe on a nil
// receiver.
func (m *metrics) observe(t island.Timing) {
	if m == nil {
		return
	}
	m.training.Observe(t.Training.Seconds())
	if !t.Child {
		return
	}
	for p, d := range t.Phases {
		m.phase[p].Observe(d.Seconds())
	}
	m.child.Observe(t.Total.Seconds())
}

// handler serves the metrics in the Prometheus text format. A failing
// store read drops its metrics from the scrape rather than failing it.
func (m *metrics) handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// metricsHandler serves the node's metrics once Run has built them.
func (n *Node) metricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n.metrics.handler().ServeHTTP(w, r) })
}

// Descriptions of the metrics read at scrape time.
var (
	descTrained = prometheus.NewDesc("evoswarm_individuals_trained_total",
		"Individuals trained here and inserted into the population.", nil, nil)
	descKilled = prometheus.NewDesc("evoswarm_individuals_killed_total",
		"Individuals killed by a tournament.", nil, nil)
	descAbandoned = prometheus.NewDesc("evoswarm_tasks_abandoned_total",
		"Tournament tasks given up after a conflict, and trainings a stop interrupted.", nil, nil)
	descErrors = prometheus.NewDesc("evoswarm_training_errors_total",
		"Trainings that went wrong (diverged or failed).", nil, nil)
	descFLOPs = prometheus.NewDesc("evoswarm_flops_total",
		"Floating-point operations spent training and evaluating here.", nil, nil)
	descBest = prometheus.NewDesc("evoswarm_best_validation_accuracy_ratio",
		"Validation accuracy of the fittest live individual (absent while the population is empty).", nil, nil)
	descAlive = prometheus.NewDesc("evoswarm_population_alive",
		"Live individuals in the population.", nil, nil)
	descTraining = prometheus.NewDesc("evoswarm_population_training",
		"Individuals being trained.", nil, nil)
	descSent = prometheus.NewDesc("evoswarm_migrants_sent_total",
		"Emigrants announced to the swarm.", nil, nil)
	descAccepted = prometheus.NewDesc("evoswarm_migrants_accepted_total",
		"Immigrants that won their tournament and joined the population.", nil, nil)
	descReceived = prometheus.NewDesc("evoswarm_migrants_received_total",
		"Announced migrants whose weights were fetched and whose fitness was re-measured here.", nil, nil)
	descDropped = prometheus.NewDesc("evoswarm_migrants_dropped_total",
		"Announced migrants given up: weights unreachable or not matching their announcement.", nil, nil)
	descRejected = prometheus.NewDesc("evoswarm_migrants_rejected_total",
		"Announcements the topic validator refused, by reason.", []string{"reason"}, nil)
	descPenalized = prometheus.NewDesc("evoswarm_claims_penalized_total",
		"Migrant claims (fitness or weights) far from what was measured here; their senders were penalised.", nil, nil)
	descPeers = prometheus.NewDesc("evoswarm_peers",
		"Connected peers.", nil, nil)

	// Admission (island.Admission): what the node heard, what it admitted,
	// and the budget its own training earns.
	descHeard = prometheus.NewDesc("evoswarm_migrants_heard_total",
		"Announcements that passed validation and were offered to the admission policy.", nil, nil)
	descIgnored = prometheus.NewDesc("evoswarm_migrants_ignored_total",
		"Announcements not admitted, which cost only their gossip, by reason: not-neighbour (outside the topology's neighbourhood), "+
			"duplicate, replaced (a higher claim of the same sender), overflow (a full pool), expired (waited too long).", []string{"reason"}, nil)
	descAdmitted = prometheus.NewDesc("evoswarm_migrants_admitted_total",
		"Announcements admitted within the budget: weights fetched and fitness re-measured (or tried), by why they were chosen: "+
			"claim (the highest claimed fitness) or novelty (the architecture farthest from the local population).", []string{"pick"}, nil)
	descRefunded = prometheus.NewDesc("evoswarm_admission_refunded_total",
		"Admissions given back to the budget unspent: the weights could not be fetched, or the migrant was bogus.", nil, nil)
	descBogus = prometheus.NewDesc("evoswarm_admission_bogus_total",
		"Admissions refunded as the sender's fault (its sender penalised): weights that did not match their announcement, "+
			"did not decode or do not fit the genome, or a genome that does not fit the data set.", nil, nil)
	descUnreachable = prometheus.NewDesc("evoswarm_admission_unreachable_total",
		"Admissions refunded because the sender did not serve the weights in time (no answer, a stalled or broken stream); "+
			"its announcements are then passed over for a while, doubling with each failure in a row.", nil, nil)
	descPassedOver = prometheus.NewDesc("evoswarm_admission_passed_over_total",
		"Times a waiting announcement was skipped because its sender is backing off after unserved weights.", nil, nil)
	descRemeasureFLOPs = prometheus.NewDesc("evoswarm_admission_remeasure_flops_total",
		"FLOPs spent re-measuring admitted immigrants since the daemon started.", nil, nil)
	descWorkFLOPs = prometheus.NewDesc("evoswarm_admission_work_flops_total",
		"FLOPs of the individuals trained here since the daemon started: the compute budget's base.", nil, nil)
	descWorked = prometheus.NewDesc("evoswarm_admission_trained_total",
		"Individuals trained here since the daemon started: the count budget's base.", nil, nil)
	descShare = prometheus.NewDesc("evoswarm_admission_remeasure_share_ratio",
		"Share of this node's FLOPs since the daemon started that went to re-measuring immigrants.", nil, nil)
	descLimitShare = prometheus.NewDesc("evoswarm_admission_limit_share_ratio",
		"The budget's limit on the re-measure share of FLOPs (migration.remeasure_share; 0: none).", nil, nil)
	descLimitEvery = prometheus.NewDesc("evoswarm_admission_limit_every",
		"The budget's limit: one admission per this many individuals trained here (migration.admit_every; 0: none).", nil, nil)
	descCredit = prometheus.NewDesc("evoswarm_admission_credit",
		"Admissions the count budget allows now (one is needed to admit).", nil, nil)
	descFLOPsCredit = prometheus.NewDesc("evoswarm_admission_flops_credit",
		"Re-measure FLOPs the compute budget allows now (an admission needs a positive credit).", nil, nil)
	descWaiting = prometheus.NewDesc("evoswarm_admission_waiting",
		"Announcements waiting for admission (at most one per sender).", nil, nil)
	descNeighbours = prometheus.NewDesc("evoswarm_neighbours",
		"Peers this node takes migrants from under the experiment's topology (all known peers for topology all).", nil, nil)
	descKnown = prometheus.NewDesc("evoswarm_known_peers",
		"Peers this node heard from recently, itself included: the topology is computed over them.", nil, nil)
)

// collector reads the store and the exchange at scrape time.
type collector struct {
	s  *store.Store
	ex *exchange // may be nil
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTrained, descKilled, descAbandoned, descErrors, descFLOPs, descBest,
		descAlive, descTraining, descSent, descAccepted, descReceived, descDropped, descRejected, descPenalized, descPeers,
		descHeard, descIgnored, descAdmitted, descRefunded, descBogus, descUnreachable, descPassedOver, descRemeasureFLOPs, descWorkFLOPs, descWorked, descShare,
		descLimitShare, descLimitEvery, descCredit, descFLOPsCredit, descWaiting, descNeighbours, descKnown} {
		ch <- d
	}
}

// collectAdmission reads the admission's totals and budget.
func collectAdmission(ch chan<- prometheus.Metric, adm *island.Admission) {
	st, p := adm.Stats(time.Now()), adm.Policy()
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter(descHeard, float64(st.Heard))
	counter(descIgnored, float64(st.NotNeighbour), "not-neighbour")
	counter(descIgnored, float64(st.Duplicate), "duplicate")
	counter(descIgnored, float64(st.Replaced), "replaced")
	counter(descIgnored, float64(st.Overflow), "overflow")
	counter(descIgnored, float64(st.Expired), "expired")
	counter(descAdmitted, float64(st.Admitted-st.Diverse), "claim")
	counter(descAdmitted, float64(st.Diverse), "novelty")
	counter(descRefunded, float64(st.Refunded))
	counter(descBogus, float64(st.Bogus))
	counter(descUnreachable, float64(st.Unreachable))
	counter(descPassedOver, float64(st.PassedOver))
	counter(descRemeasureFLOPs, st.RemeasureFLOPs)
	counter(descWorkFLOPs, st.WorkFLOPs)
	counter(descWorked, float64(st.Trained))
	gauge(descShare, st.RemeasureShare())
	gauge(descLimitShare, p.Share)
	gauge(descLimitEvery, float64(p.Every))
	gauge(descCredit, st.Credit)
	gauge(descFLOPsCredit, st.FLOPsCredit)
	gauge(descWaiting, float64(st.Waiting))
	gauge(descNeighbours, float64(st.Neighbours))
	gauge(descKnown, float64(st.Known))
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.collectStore(ch)
	if c.ex == nil {
		return
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	counter(descReceived, float64(c.ex.Remeasured.Load()))
	counter(descDropped, float64(c.ex.Dropped.Load()))
	counter(descPenalized, float64(c.ex.Penalized.Load()))
	if c.ex.adm != nil {
		collectAdmission(ch, c.ex.adm)
	}
	if c.ex.sw == nil {
		return
	}
	for reason, k := range c.ex.sw.Rejections() {
		counter(descRejected, float64(k), reason)
	}
	ch <- prometheus.MustNewConstMetric(descPeers, prometheus.GaugeValue, float64(len(c.ex.sw.Peers())))
}

// collectStore reads the counters and the population in one transaction.
func (c *collector) collectStore(ch chan<- prometheus.Metric) {
	var cnt store.Counters
	var alive []store.Member
	var training int
	err := c.s.View(func(tx *store.Tx) error {
		var err error
		if cnt, err = tx.Counters(); err != nil {
			return err
		}
		if alive, err = tx.Alive(); err != nil {
			return err
		}
		tr, err := tx.Training()
		training = len(tr)
		return err
	})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descTrained, err)
		return
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter(descTrained, float64(cnt.Trained))
	counter(descKilled, float64(cnt.Killed))
	counter(descAbandoned, float64(cnt.Abandoned))
	counter(descErrors, float64(cnt.Errors))
	counter(descFLOPs, cnt.FLOPs)
	counter(descSent, float64(cnt.MigrantsOut))
	counter(descAccepted, float64(cnt.MigrantsIn))
	gauge(descAlive, float64(len(alive)))
	gauge(descTraining, float64(training))
	if len(alive) > 0 {
		best := alive[0].Fitness
		for _, m := range alive[1:] {
			best = max(best, m.Fitness)
		}
		gauge(descBest, best)
	}
}
